"""``rl-bot report RUN``: one self-contained HTML page about a training run (app layer: MLflow, matplotlib).

The page holds the training curves (every iteration's metrics, read back from the run's MLflow run), the league
table with its rating intervals (``league/table.csv``), the rating plot (``league/elo.png``), the curriculum's
stage changes (``curriculum/stages.csv``) and the newest evaluation clip (``eval/clip-iter*.gif``). Pictures are
embedded as base64, so the file can be mailed or attached as it is. A part the run does not have (no league, no
curriculum, tracking off) is shown as missing with the reason, never filled in.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
from dataclasses import dataclass
from pathlib import Path

from rl_bot.checkpoints import latest_checkpoint
from rl_bot.clip import latest_eval_clip
from rl_bot.config import CONFIG_FILE, ConfigError, TrainConfig, read_yaml, resolve_mlflow_uri, validate_config
from rl_bot.tracking import MLFLOW_RUN_ID_FILE

REPORT_FILE = "report.html"


@dataclass(frozen=True)
class Panel:
    """One plot of the curves: its title and the metric keys drawn in it (a ``_low``/``_high`` pair of a key,
    when logged, is drawn as that key's band)."""

    title: str
    keys: tuple[str, ...]
    #: the metric whose value at each iteration is the x coordinate (None: the iteration), and its scale
    x_key: str | None = None
    x_scale: float = 1.0
    x_label: str = "iteration"


def curve_panels(cfg: TrainConfig) -> list[Panel]:
    """The curves a run's report shows (panels whose metrics were never logged are left out)."""
    opp = cfg.league.eval_opponent
    return [
        Panel("Return per episode", ("env/episode_return_mean",)),
        Panel("Touches and goals per game minute", ("env/touches_per_minute", "env/goals_per_minute")),
        Panel("Episode length (game seconds)", ("env/episode_game_seconds",)),
        Panel("main's league rating (95 % band)", ("league/elo_main",)),
        Panel(
            f"Periodic evaluation vs {opp}: score and win rate",
            (f"league/eval_score_vs_{opp}", f"league/eval_winrate_vs_{opp}"),
        ),
        Panel(
            f"Learning curve: win rate vs {opp} over wall time",
            (f"league/eval_winrate_vs_{opp}",),
            x_key="perf/wall_time_s",
            x_scale=1 / 60,
            x_label="minutes of training",
        ),
        Panel("Curriculum stage", ("curriculum/stage",)),
        Panel("Policy loss", ("losses/policy_loss",)),
        Panel("Value loss", ("losses/value_loss",)),
        Panel("Entropy", ("losses/entropy",)),
        Panel("KL between the sampling and the updated policy", ("losses/kl",)),
        Panel("Value function: explained variance", ("losses/explained_variance",)),
        Panel("Agent steps per second", ("perf/agent_steps_per_s",)),
    ]


def load_run(run_dir: str | Path) -> tuple[Path, TrainConfig]:
    """The run folder and its saved config; :class:`ConfigError` when the folder is missing or not a run."""
    p = Path(run_dir).expanduser().resolve()
    if not p.is_dir():
        raise ConfigError([f"{str(p)!r} does not exist or is not a folder; give a run folder (runs/<run>)"], "RUN")
    cfg_path = p / CONFIG_FILE
    if not cfg_path.is_file():
        raise ConfigError(
            [f"{str(p)!r} is not a run folder: it has no {CONFIG_FILE} (every rl-bot train run writes one)"], "RUN"
        )
    return p, validate_config(read_yaml(cfg_path), str(cfg_path))


def metric_histories(cfg: TrainConfig, run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], str]:
    """Every metric's (iteration, value) history from the run's MLflow run, and a note on where they came from
    (or why there are none)."""
    id_file = run_dir / MLFLOW_RUN_ID_FILE
    if not id_file.is_file():
        return {}, f"no curves: the run has no {MLFLOW_RUN_ID_FILE} (tracking.enabled was false)"
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = resolve_mlflow_uri(cfg)
    run_id = id_file.read_text().strip()
    try:
        client = MlflowClient(tracking_uri=uri)
        keys = sorted(client.get_run(run_id).data.metrics)
        hist = {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys}
    except MlflowException as e:
        return {}, f"no curves: MLflow run {run_id} could not be read from {uri} ({e.message.splitlines()[0]})"
    return hist, f"MLflow run {run_id} at {uri}"


def panel_curve(
    hist: dict[str, list[tuple[int, float]]], panel: Panel, key: str
) -> list[tuple[float, float, tuple[float, float] | None]]:
    """``key``'s points in ``panel``: (x, value, its ``_low``/``_high`` band or None). x is the iteration, or the
    panel's x metric at that iteration times its scale (iterations without that metric are left out)."""
    at = dict(hist.get(panel.x_key, [])) if panel.x_key else None
    low, high = dict(hist.get(f"{key}_low", [])), dict(hist.get(f"{key}_high", []))
    out = []
    for step, value in hist.get(key, []):
        if at is not None and step not in at:
            continue
        x = (at[step] if at is not None else step) * panel.x_scale
        out.append((x, value, (low[step], high[step]) if step in low and step in high else None))
    return out


def plot_curves(hist: dict[str, list[tuple[int, float]]], panels: list[Panel]) -> bytes | None:
    """The panels with data as one PNG (None if no panel has data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in panels if any(hist.get(k) for k in p.keys)]
    if not shown:
        return None
    cols = 2
    rows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows), dpi=90, squeeze=False)
    for ax, panel in zip(axes.flat, shown, strict=False):
        for key in panel.keys:
            pts = hist.get(key)
            if not pts:
                continue
            curve = panel_curve(hist, panel, key)
            if not curve:
                continue
            x, y, band = zip(*curve, strict=True)
            style = "o-" if len(curve) < 30 else "-"
            (line,) = ax.plot(x, y, style, ms=3, lw=1.2, label=key)
            shaded = [(xi, b) for xi, b in zip(x, band, strict=True) if b is not None]
            if shaded:
                ax.fill_between(
                    [xi for xi, _ in shaded],
                    [b[0] for _, b in shaded],
                    [b[1] for _, b in shaded],
                    color=line.get_color(),
                    alpha=0.2,
                )
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(panel.x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(panel.keys) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _img(data: bytes, mime: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _csv_table(path: Path) -> str:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return "<p class=note>(empty file)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _missing(text: str) -> str:
    return f"<p class=note>{html.escape(text)}</p>"


CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f4f4f4} .note{color:#777;font-style:italic} img{max-width:100%} code{font-size:12px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px} dt{color:#666}
"""


def build_report(run_dir: str | Path) -> str:
    """The report page of a run folder, as HTML; :class:`ConfigError` if the folder is not a run."""
    run, cfg = load_run(run_dir)
    parts: list[str] = []
    facts: dict[str, str] = {
        "run folder": str(run),
        "game": f"{cfg.env.team_size}v{cfg.env.team_size}, tick skip {cfg.env.tick_skip}",
        "league": "on" if cfg.league.enabled else "off",
        "curriculum": f"{len(cfg.curriculum.stages)} stages" if cfg.curriculum.enabled else "off",
    }
    try:
        ckpt, state = latest_checkpoint(run)
        facts["newest checkpoint"] = f"{ckpt.name}: {state.env_steps:,} env steps, {state.wall_time_s / 60:.1f} min"
    except ConfigError:
        facts["newest checkpoint"] = "none"
    hist, source = metric_histories(cfg, run)
    facts["curves from"] = source
    facts["written"] = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts.append("<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items()))
    parts.append("</dl>")

    parts.append("<h2 id=curves>Training curves</h2>")
    png = plot_curves(hist, curve_panels(cfg)) if hist else None
    parts.append(_img(png, "image/png", "training curves") if png else _missing(source))
    opp = cfg.league.eval_opponent
    evals = {k: v[-1] for k, v in hist.items() if k.startswith("league/eval_") and k.endswith(f"_vs_{opp}")}
    if evals:
        it = int(hist["league/eval_iteration"][-1][1]) if hist.get("league/eval_iteration") else None
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td></tr>" for k, (_, v) in sorted(evals.items()))
        parts.append(f"<p>Newest periodic evaluation (iteration {it}):</p><table>{rows}</table>")

    parts.append("<h2 id=league>League table</h2>")
    table = run / "league" / "table.csv"
    parts.append(_csv_table(table) if table.is_file() else _missing("no league/table.csv (the league was off)"))
    parts.append("<h2 id=ratings>Ratings</h2>")
    elo = run / "league" / "elo.png"
    parts.append(_img(elo.read_bytes(), "image/png", "rating plot") if elo.is_file() else _missing("no league/elo.png"))

    parts.append("<h2 id=curriculum>Curriculum stages</h2>")
    stages = run / "curriculum" / "stages.csv"
    if stages.is_file():
        parts.append(_csv_table(stages))
    else:
        parts.append(_missing("no stage changes recorded (no curriculum, or it never left its first stage)"))

    parts.append("<h2 id=clip>Newest evaluation clip</h2>")
    clip = latest_eval_clip(run)
    if clip is not None:
        parts.append(f"<p><code>{html.escape(clip.name)}</code></p>")
        parts.append(_img(clip.read_bytes(), "image/gif", clip.name))
    else:
        parts.append(
            _missing(
                "no clip in eval/ (league.eval_record off, or no periodic evaluation finished); record one with "
                f"rl-bot eval --checkpoint {run} --opponent {opp} --record clip.gif"
            )
        )
    title = html.escape(f"rl-bot report: {run.name}")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{CSS}</style></head>"
        f"<body><h1>{title}</h1>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN/report.html``); returns its path."""
    page = build_report(run_dir)
    path = Path(out) if out is not None else Path(run_dir).expanduser().resolve() / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
