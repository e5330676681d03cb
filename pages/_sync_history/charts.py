"""The Sync history page's Plotly charts: provisioning cycles, the failure rate, actions and the directory's size,
with quarantine periods shaded. Every label from outside goes through ``plot_text``. Titles, axes, legends and
hover texts are in the operator's language; the data (statuses, actions) keeps Graph's values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pandas as pd
import plotly.graph_objects as go

from console.entra.catalogue import error_title, outcome_word, quarantine_reason_text
from console.entra.health import SPIKE_WINDOW
from console.i18n import _
from console.text import as_text
from console.timeline import action_label
from pages import _history as hist
from pages._ui import format as fmt
from pages._ui.text import plot_text

STATUS_COLOURS = {"success": "#2e7d32", "failure": "#c62828", "skipped": "#9e9e9e", "warning": "#f9a825"}


def _shade_quarantine(fig: go.Figure, periods: pd.DataFrame, lo: datetime | None, now: datetime, *,
                      reason: bool = True) -> None:
    for row in periods.itertuples(index=False):
        start = pd.Timestamp(cast(datetime, row.start))
        end = pd.Timestamp(cast(datetime, row.end)) if pd.notna(cast(datetime, row.end)) else pd.Timestamp(now)
        if lo is not None and end < pd.Timestamp(lo):
            continue
        if lo is not None and start < pd.Timestamp(lo):
            start = pd.Timestamp(lo)  # the shading starts where the chart does
        x0, x1 = hist.iso_list([start, end])
        fig.add_vrect(x0=x0, x1=x1, fillcolor="#c62828", opacity=0.12, line_width=0,
                      annotation_text=_("quarantine: {reason}").format(
                          reason=plot_text(quarantine_reason_text(as_text(row.reason)))) if reason else _("quarantine"),
                      annotation_position="top left")


def cycles_chart(cycles: pd.DataFrame, periods: pd.DataFrame, lo: datetime | None) -> go.Figure:
    fig = go.Figure()
    x = hist.iso_list(cycles["start"])
    for status in ("success", "failure", "skipped", "warning"):
        if status in cycles and int(cycles[status].sum()):
            word = plot_text(outcome_word(status))
            fig.add_bar(name=word, x=x, y=cycles[status].astype(int).tolist(),
                        marker_color=STATUS_COLOURS[status],
                        customdata=[plot_text(c) for c in cycles["cycle_id"]],
                        hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>" + _("cycle {id}").format(id="%{customdata}")
                        + "<br>"
                        # Translators: a number of records and their outcome in a chart's hover ("8 failure")
                        + _("{count} {outcome}").format(count="%{y}", outcome=word) + "<extra></extra>")
    failing = cycles[cycles["failure"] > 0] if "failure" in cycles else cycles.iloc[0:0]
    if len(failing):
        # thin bars hide a few failures among hundreds of cycles: mark every cycle that had any
        fig.add_scatter(name=_("cycles with failures"), x=hist.iso_list(failing["start"]),
                        y=failing["total"].astype(int).tolist(), mode="markers",
                        marker={"symbol": "triangle-down", "size": 11, "color": STATUS_COLOURS["failure"]},
                        customdata=failing["failure"].astype(int).tolist(),
                        hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>"
                        + _("{failed} failed of {total}").format(failed="%{customdata}", total="%{y}")
                        + "<extra></extra>")
        worst = failing.sort_values(["failure", "start"], ascending=[False, False]).iloc[0]
        code = worst.get("top_error")
        numbers = {"failed": int(worst["failure"]), "total": int(worst["total"])}
        fig.add_annotation(x=hist.iso_list([worst["start"]])[0], y=int(worst["total"]), ax=40, ay=-40,
                           text=_("worst: {failed} of {total} failed ({error})").format(
                               error=plot_text(error_title(code)), **numbers) if isinstance(code, str)
                           else _("worst: {failed} of {total} failed").format(**numbers),
                           showarrow=True, arrowhead=2, arrowcolor=STATUS_COLOURS["failure"],
                           font={"color": STATUS_COLOURS["failure"]}, bgcolor="rgba(255,255,255,0.85)")
    _shade_quarantine(fig, periods, lo, datetime.now(UTC))
    fig.update_layout(barmode="stack", title=_("Cycles over time by outcome"), yaxis_title=_("records"), height=380,
                      margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.3})
    fig.update_yaxes(rangemode="tozero")
    hist.time_axis(fig, cycles["start"], lo, title=_("cycle start ({zone})").format(zone=fmt.operator_zone()))
    return fig


def failure_rate_chart(cycles: pd.DataFrame, periods: pd.DataFrame, lo: datetime | None) -> go.Figure:
    c = cycles[cycles["total"] > 0]
    rate = (c["failure_rate"] * 100).round(2)
    median = rate.shift(1).rolling(SPIKE_WINDOW, min_periods=3).median()
    fig = go.Figure()
    x = hist.iso_list(c["start"])
    fig.add_scatter(name=_("failure rate %"), x=x, y=rate.tolist(), mode="lines+markers", line_color="#c62828",
                    hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>" + _("{rate} failed").format(rate="%{y}%")
                    + "<extra></extra>")
    fig.add_scatter(name=_("trailing median %"), x=x, y=[None if pd.isna(v) else float(v) for v in median],
                    mode="lines", line={"dash": "dot", "color": "#616161"}, hoverinfo="skip")
    _shade_quarantine(fig, periods, lo, datetime.now(UTC), reason=False)
    top = float(rate.max()) if len(rate) else 0.0
    # the axis ends just above the highest rate (at most 100 %), not at an automatic margin past the data
    fig.update_yaxes(range=[0, round(min(100.0, max(5.0, top * 1.1)), 1)], ticksuffix=" %")
    fig.update_layout(title=_("Failure rate per cycle"), yaxis_title=_("records failed"), height=320,
                      margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    hist.time_axis(fig, c["start"], lo, title=_("cycle start ({zone})").format(zone=fmt.operator_zone()))
    return fig


def actions_chart(by_action: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    actions = by_action.groupby("action")["count"].sum().sort_values(ascending=False).index.tolist()
    # unknown actions and statuses are kept as the log says them: Plotly labels read HTML, so escape them
    for status in sorted(by_action["status"].unique(), key=lambda s: list(STATUS_COLOURS).index(s)
                         if s in STATUS_COLOURS else 9):
        part = by_action[by_action["status"] == status].set_index("action")["count"]
        fig.add_bar(name=plot_text(outcome_word(status)), x=[plot_text(action_label(a)) for a in actions],
                    y=[int(part.get(a, 0)) for a in actions], marker_color=STATUS_COLOURS.get(status))
    fig.update_layout(barmode="stack", title=_("Actions by type"), yaxis_title=_("records"), height=320,
                      margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def size_chart(size: pd.DataFrame, since: datetime | None) -> go.Figure:
    fig = go.Figure()
    x = hist.iso_list(size["taken_at"])
    for col, label in (("user_count", _("users")), ("active_users", _("active users")), ("group_count", _("groups")),
                       ("role_count", _("roles"))):
        fig.add_scatter(name=label, x=x, y=size[col].astype(int).tolist(), mode="lines+markers",
                        hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>"
                        # Translators: a number and what it counts in a chart's hover ("200 users")
                        + _("{count} {what}").format(count="%{y:,}", what=label) + "<extra></extra>")
    fig.update_layout(title=_("Directory size over time (from snapshots)"), yaxis_title=_("count"), height=320,
                      margin={"t": 50, "b": 40})
    fig.update_yaxes(rangemode="tozero")
    hist.time_axis(fig, size["taken_at"], since, title=_("snapshot taken ({zone})").format(zone=fmt.operator_zone()))
    return fig
