"""Rendering: a self-contained HTML page and a markdown file from contracts + evidence.

Declaration (contracts) and results (evidence) are only read here. Per contract: its status and
the history of status changes across runs, each falsifier with its measurements drawn against
their plausible bands, per-epoch losses with the plausible band shaded, the hypotheses table.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from harness.contract import Contract
from harness.evidence import falsifier_record
from harness.status import derive_hypothesis_status, falsifier_statuses

COLOURS = {
    "DISCHARGED": "#1a7f37",
    "ACTIVE_RUNTIME": "#1a7f37",
    "FALSIFIED": "#cf222e",
    "METHODOLOGY_SUSPECT": "#bf8700",
    "DRAFT_PARTIAL_DISCHARGE": "#9a6700",
    "OPEN": "#6e7781",
    "DRAFT": "#6e7781",
    "SUPPORTED": "#cf222e",
    "REFUTED": "#1a7f37",
}


@dataclass
class ContractView:
    contract: Contract
    runs: list[dict] = field(default_factory=list)  # results.json of every run, oldest first
    records: dict[str, dict] = field(default_factory=dict)  # falsifier id → its latest evidence record


def collect(root: Path) -> list[ContractView]:
    """Every contract with the runs of its evidence folder (oldest first) and the record each
    falsifier's ledger points at, from one snapshot of the project."""
    from harness.snapshot import read_snapshot

    snapshot = read_snapshot(Path(root), sources=False, baseline=False)
    views = []
    for contract in snapshot.contracts:
        view = ContractView(contract)
        for _, run in sorted(snapshot.store.siblings(contract.key).items()):
            if run.data.get("contract_key", contract.key) == contract.key:
                view.runs.append(run.data)
        for f in contract.falsifiers:
            record = falsifier_record(snapshot.store, f.evidence, f.id)
            if record:
                view.records[f.id] = record
        views.append(view)
    return views


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def band_plot(measurements: dict[str, float], bands: dict[str, tuple[float, float]]) -> str | None:
    """Each measured value against its plausible band (shaded); outside the band in red."""
    names = [n for n in bands if n in measurements]
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(names), 1, figsize=(6.0, 0.75 * len(names) + 0.3), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        low, high = bands[name]
        value = measurements[name]
        span = max(high - low, 1e-9)
        lo_view = min(low, value) - 0.15 * span
        hi_view = max(high, value) + 0.15 * span
        ax.axvspan(low, high, color="#1a7f37", alpha=0.18, label="plausible")
        inside = low <= value <= high
        ax.plot([value], [0], "o", color="#1a7f37" if inside else "#cf222e", markersize=8)
        ax.set_xlim(lo_view, hi_view)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.annotate(f"{value:.4g}", (value, 0), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def epochs_plot(epochs: list[dict], band: tuple[float, float] | None) -> str | None:
    """Train and val loss per epoch, the plausible val band shaded: the picture the incident needed."""
    points = [e for e in epochs if isinstance(e.get("train_loss"), (int, float)) and isinstance(e.get("val_loss"), (int, float))]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [e.get("epoch", i) for i, e in enumerate(points)]
    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    if band:
        ax.axhspan(band[0], band[1], color="#1a7f37", alpha=0.15, label=f"plausible val_loss [{band[0]:g}, {band[1]:g}]")
    ax.plot(x, [e["train_loss"] for e in points], "o-", color="#0969da", label="train_loss")
    ax.plot(
        x,
        [e["val_loss"] for e in points],
        "s-",
        color="#cf222e" if band and not (band[0] <= points[-1]["val_loss"] <= band[1]) else "#8250df",
        label="val_loss",
    )
    values = [e["val_loss"] for e in points] + [e["train_loss"] for e in points]
    if min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _svg(fig)


def _badge(status: str | None) -> str:
    text = html.escape(status or "—")
    colour = COLOURS.get(status or "", "#57606a")
    return f'<span class="badge" style="background:{colour}">{text}</span>'


def _history(view: ContractView) -> list[dict]:
    rows = []
    for run in view.runs:
        changes = [
            f"{fid}: {r['status_before']} → {r['status_after']}"
            for fid, r in run.get("falsifiers", {}).items()
            if r.get("status_before") != r.get("status_after")
        ]
        dispatch = run.get("dispatch", {})
        rows.append(
            {
                "run": run.get("run_id"),
                "started": dispatch.get("started", ""),
                "device": dispatch.get("device", "cpu"),
                "before": run.get("status_before"),
                "after": run.get("status_after"),
                "changes": changes,
            }
        )
    return rows


def render_html(views: list[ContractView], root: Path) -> str:
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Contract status report</title><style>",
        "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}",
        "h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}",
        "table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}td,th{border:1px solid #d0d7de;padding:.35rem .5rem;vertical-align:top;text-align:left}",
        "th{background:#f6f8fa}.badge{color:#fff;border-radius:1em;padding:.1em .6em;font-size:.8rem;font-weight:600;white-space:nowrap}",
        ".summary td{font-size:1rem}.muted{color:#57606a}.plot svg{max-width:100%;height:auto}code{font-size:.85em}",
        "</style></head><body>",
        "<h1>Contract status report</h1>",
        f"<p class='muted'>Generated {generated} from <code>contracts/</code> and <code>evidence/</code>. A skipped or crashed falsifier is never a pass.</p>",
        "<table class='summary'><tr><th>contract</th><th>status</th><th>bound falsifiers</th><th>runs</th></tr>",
    ]
    for view in views:
        c = view.contract
        counts: dict[str, int] = {}
        for f in c.bound_falsifiers:
            counts[f.effective_status] = counts.get(f.effective_status, 0) + 1
        summary = " ".join(f"{_badge(s)}&nbsp;{n}" for s, n in sorted(counts.items())) or "<span class='muted'>none</span>"
        parts.append(
            f"<tr><td><a href='#{html.escape(c.key)}'>{html.escape(c.id)}</a></td><td>{_badge(c.status)}</td><td>{summary}</td><td>{len(view.runs)}</td></tr>"
        )
    parts.append("</table>")
    for view in views:
        c = view.contract
        parts.append(f"<h2 id='{html.escape(c.key)}'>{html.escape(c.id)} {_badge(c.status)}</h2>")
        parts.append(f"<p class='muted'><code>{html.escape(c.display_path)}</code></p>")
        history = _history(view)
        if history:
            parts.append("<h3>Status history</h3><table><tr><th>run</th><th>started</th><th>device</th><th>contract</th><th>falsifier changes</th></tr>")
            for row in history:
                parts.append(
                    f"<tr><td><code>{html.escape(str(row['run']))}</code></td><td>{html.escape(row['started'])}</td><td>{html.escape(str(row['device']))}</td>"
                    f"<td>{_badge(row['before'])} → {_badge(row['after'])}</td><td>{'<br>'.join(html.escape(x) for x in row['changes']) or '<span class=muted>no change</span>'}</td></tr>"
                )
            parts.append("</table>")
        parts.append("<h3>Falsifiers</h3><table><tr><th>falsifier</th><th>status</th><th>last outcome</th><th>measurements vs plausible band</th></tr>")
        for f in c.falsifiers:
            record = view.records.get(f.id, {})
            if not f.bound:
                parts.append(
                    f"<tr><td>{html.escape(f.id)}</td><td><span class='muted'>external</span></td><td colspan=2><code>{html.escape(f.test[:160])}</code></td></tr>"
                )
                continue
            measurements = record.get("measurements", {})
            cell = ""
            epochs = (record.get("attachments") or {}).get("epochs")
            if epochs:
                cell += f"<div class='plot'>{epochs_plot(epochs, f.plausible.get('val_loss')) or ''}</div>"
            plot = band_plot(measurements, f.plausible)
            if plot:
                cell += f"<div class='plot'>{plot}</div>"
            rest = {k: v for k, v in measurements.items() if k not in f.plausible}
            if rest:
                cell += "<div class='muted'>" + ", ".join(f"{html.escape(k)}={v:.4g}" for k, v in rest.items()) + "</div>"
            message = record.get("message", "")
            outcome = html.escape(record.get("outcome", "not run"))
            device = html.escape(record.get("device", ""))
            parts.append(
                f"<tr><td>{html.escape(f.id)}<br><span class='muted'>{html.escape(f.test)}</span>{'<br><span class=muted>requires ' + ', '.join(f.requires) + '</span>' if f.requires else ''}</td>"
                f"<td>{_badge(f.effective_status)}</td><td>{outcome} {('on ' + device) if device else ''}"
                f"{'<br><small>' + html.escape(message[:300]) + '</small>' if message else ''}</td><td>{cell or '<span class=muted>—</span>'}</td></tr>"
            )
        parts.append("</table>")
        if c.hypotheses:
            statuses = falsifier_statuses(c.falsifiers)
            parts.append("<h3>Hypotheses</h3><table><tr><th>id</th><th>status</th><th>statement</th><th>refuted by</th><th>supported by</th></tr>")
            for h in c.hypotheses:
                status = derive_hypothesis_status(h, statuses)
                parts.append(
                    f"<tr><td>{html.escape(h.id)}</td><td>{_badge(status)}</td><td>{html.escape(h.statement)}</td><td>{html.escape(', '.join(h.refuted_by))}</td><td>{html.escape(', '.join(h.supported_by))}</td></tr>"
                )
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(views: list[ContractView]) -> str:
    lines = ["# Contract status report", "", "| contract | status | bound falsifiers | runs |", "|---|---|---|---|"]
    for view in views:
        c = view.contract
        statuses = ", ".join(f"{f.id}: {f.effective_status}" for f in c.bound_falsifiers) or "—"
        lines.append(f"| {c.id} | **{c.status or '—'}** | {statuses} | {len(view.runs)} |")
    for view in views:
        c = view.contract
        lines += ["", f"## {c.id} — {c.status or '—'}", ""]
        history = _history(view)
        if history:
            lines += ["| run | device | contract | changes |", "|---|---|---|---|"]
            lines += [f"| {r['run']} | {r['device']} | {r['before']} → {r['after']} | {'; '.join(r['changes']) or 'no change'} |" for r in history]
            lines.append("")
        lines += ["| falsifier | status | measurements (plausible) |", "|---|---|---|"]
        for f in c.bound_falsifiers:
            m = view.records.get(f.id, {}).get("measurements", {})
            shown = ", ".join(f"{k}={v:.4g}" + (f" ∈ [{f.plausible[k][0]:g}, {f.plausible[k][1]:g}]" if k in f.plausible else "") for k, v in m.items())
            lines.append(f"| {f.id} | {f.effective_status} | {shown or '—'} |")
        if c.hypotheses:
            statuses = falsifier_statuses(c.falsifiers)
            lines += ["", "| hypothesis | status | statement |", "|---|---|---|"]
            lines += [f"| {h.id} | {derive_hypothesis_status(h, statuses)} | {h.statement} |" for h in c.hypotheses]
    return "\n".join(lines) + "\n"


def write_report(root: Path, out: Path) -> dict[str, Path]:
    from harness.atomic import write_atomic

    views = collect(root)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "index.html", "markdown": out / "README.md"}
    write_atomic(paths["html"], render_html(views, root))
    write_atomic(paths["markdown"], render_markdown(views))
    return paths
