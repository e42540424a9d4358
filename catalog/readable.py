"""Stored JSON as people read it in the admin: Top-5 lines, small tables, counted lists — never raw
JSON. Read-only displays: each takes the stored value and returns escaped HTML."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from catalog.formatting import EMPTY, milliseconds, percent

LIST_HEAD = 24  # items of a long list shown before "… N in all"
TABLE_ROWS = 60  # rows of a per-window table shown before "… N in all"


def number(value: object) -> str:
    """A stored number as written by people: 0.123456789 → "0.1235", 3.0 → "3"."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _more(shown: int, total: int) -> SafeString:
    return format_html('<p class="as-more">… {} in all</p>', total) if total > shown else SafeString("")


def scores_line(pairs: Iterable[tuple[str, float]], *, ranked: bool = True) -> SafeString:
    """ "1. Rock 41.6 % · 2. Jazz 20.1 %" (or without the ranks)."""
    parts = [
        f"{n}. {label} {percent(p)}" if ranked else f"{label} {percent(p)}"
        for n, (label, p) in enumerate(pairs, start=1)
    ]
    return format_html("{}", " · ".join(parts)) if parts else SafeString(EMPTY)


def proposal_line(proposed: Sequence[Mapping[str, object]] | None) -> SafeString:
    """A decision's Top-5 as shown to the editor, in the order shown."""
    return scores_line(
        (str(item.get("genre")), float(item.get("confidence", item.get("probability")) or 0)) for item in proposed or []
    )


def top_scores(labels: Sequence[str], scores: Sequence[float], k: int) -> SafeString:
    ranked = sorted(zip(labels, scores), key=lambda pair: pair[1], reverse=True)[:k]
    return scores_line(ranked)


def value_html(value: object) -> SafeString:
    """Any stored JSON value, readably: a table for an object, a list for a list, a number rounded."""
    if value is None or value == "" or value == [] or value == {}:
        return SafeString(EMPTY)
    if isinstance(value, Mapping):
        return mapping_table(value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, Mapping) for item in value):
            return rows_table(value)
        if all(not isinstance(item, (Mapping, list, tuple)) for item in value):
            return counted_list(value)
        return format_html("{} items of {} values each", len(value), len(value[0]) if value[0] else 0)
    return format_html("{}", number(value))


def counted_list(values: Sequence[object], *, what: str = "") -> SafeString:
    """ "16 genres: Blues, Classical, …" — the first LIST_HEAD items of a long list."""
    head = ", ".join(number(item) for item in values[:LIST_HEAD])
    tail = f", … ({len(values)} in all)" if len(values) > LIST_HEAD else ""
    return format_html("{}{}{}", f"{len(values)} {what}: " if what else "", head, tail)


def mapping_table(mapping: Mapping[str, object], *, cell: Callable[[object], object] = value_html) -> SafeString:
    """A small two-column table (name, value); nested objects become nested tables."""
    rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((key, cell(item)) for key, item in mapping.items()))
    return format_html('<table class="as-readable">{}</table>', rows) if mapping else SafeString(EMPTY)


def rows_table(
    rows: Sequence[Mapping[str, object]],
    *,
    columns: Sequence[str] | None = None,
    cells: Mapping[str, Callable[[object], object]] | None = None,
) -> SafeString:
    """A table of records (one per row, one column per key), the first TABLE_ROWS rows."""
    if not rows:
        return SafeString(EMPTY)
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    cells = cells or {}
    head = format_html_join("", "<th>{}</th>", ((name.replace("_", " "),) for name in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((cells.get(name, value_html)(row.get(name)),) for name in columns)),)
            for row in rows[:TABLE_ROWS]
        ),
    )
    return format_html(
        '<table class="as-readable"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>{}',
        head,
        body,
        _more(min(len(rows), TABLE_ROWS), len(rows)),
    )


def windows_table(
    starts_s: Sequence[float], scores: Sequence[Sequence[float]], labels: Sequence[str], *, k: int = 3
) -> SafeString:
    """Per window: when it starts and its Top-k, instead of a wall of probabilities."""
    if not scores:
        return SafeString(EMPTY)
    rows = [
        {
            "window": n,
            "starts at": EMPTY if start is None else f"{start:.1f} s",
            f"top-{k}": top_scores(labels, window, k),
        }
        for n, (start, window) in enumerate(zip(list(starts_s) + [None] * len(scores), scores), start=1)
    ]
    return rows_table(rows, cells={"window": str, "starts at": str, f"top-{k}": lambda html: html})


def attention_regions_table(regions: Sequence[Mapping[str, object]]) -> SafeString:
    """The attended regions as time span, frequency band and score."""

    def band(region: Mapping[str, object]) -> str:
        low, high = float(region.get("low_hz", 0)), float(region.get("high_hz", 0))
        return f"{low / 1000:.1f}–{high / 1000:.1f} kHz" if high >= 1000 else f"{low:.0f}–{high:.0f} Hz"

    rows = [
        {
            "time": f"{float(r.get('start_s', 0)):.1f}–{float(r.get('end_s', 0)):.1f} s",
            "band": band(r),
            "score": number(r.get("score")),
        }
        for r in regions
    ]
    return rows_table(rows, cells={"time": str, "band": str, "score": str})


def milliseconds_line(timings: Mapping[str, float] | None) -> SafeString:
    """ "decode 1 ms · mel 2 ms · model 23 ms · total 57 ms"."""
    if not timings:
        return SafeString(EMPTY)
    return format_html("{}", " · ".join(f"{step} {milliseconds(ms)}" for step, ms in timings.items()))


def percent_line(scores: Mapping[str, float] | None) -> SafeString:
    """Named scores (0–1), highest first: "other 94.7 % · music 12.6 % · speech 0.1 %"."""
    ranked = sorted((scores or {}).items(), key=lambda pair: pair[1], reverse=True)
    return scores_line(ranked, ranked=False)


def vector_summary(values: Sequence[float] | None) -> SafeString:
    """A long vector (an embedding) is not for reading: its length and first values."""
    if not values:
        return SafeString(EMPTY)
    head = ", ".join(f"{v:.3f}" for v in values[:4])
    return format_html("{} values ({}, …)", len(values), head)


class ReadableFields:
    """ModelAdmin mixin: each stored field named in READABLE is shown, in its place, by the
    read-only display (a method or a readonly_fields name) it maps to."""

    READABLE: dict[str, str] = {}

    def get_readonly_fields(self, request: object, obj: object = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return fields + [name for name in self.READABLE.values() if name not in fields]

    def get_fields(self, request: object, obj: object = None) -> list[str]:
        shown = set(self.READABLE.values())
        return [
            self.READABLE.get(name, name)
            for name in super().get_fields(request, obj)  # type: ignore[misc]
            if name not in shown
        ]
