"""The printable report: A4, the campaign and period, its tables and bar charts (fpdf2).

fpdf2 rather than WeasyPrint: it is pure Python, so a server needs no pango, cairo or
GDK-Pixbuf from the system, only one TrueType font with Cyrillic (DejaVu Sans, Debian's
``fonts-dejavu-core``; ``make pdf-font`` installs it). WeasyPrint's advantage, reusing the
dashboard's HTML templates, buys little here: a printed report wants fewer columns than
a screen and charts drawn as vectors, which fpdf2 draws directly. A missing font is a
clear error (``ExportUnavailable``), never a PDF with empty boxes.

Text is drawn as text: nothing a visitor typed is interpreted as markup (there is no HTML
step at all), and characters outside the font are replaced, so a PDF always renders.
Wide tables keep their label columns and the headline figures; every figure is in the
xlsx and CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF

from callpool.errors import ExportUnavailable
from callpool.reports.exports.cells import plain
from callpool.reports.rows import Column, ReportDoc, Row, Table, total_row

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),  # Fedora
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),  # Arch
)
MAX_ROWS = 2000  # a PDF of a whole calls list is no use: the file formats have every row
CHARTED = ("Daily", "Hourly")  # tables drawn as bar charts
HEADLINE = (
    "calls", "unique_calls", "answered_pct", "missed", "target_calls", "called_back",
    "successful_calls", "revenue", "cost", "cost_per_call", "answered", "wait_avg_seconds",
    "talk_avg_seconds",
)  # fmt: skip
MAX_COLUMNS = 9
PAGE_WIDTH = 190.0  # A4 less 10 mm margins


def find_font(configured: Path | None = None) -> Path:
    candidates = (configured,) if configured is not None else FONT_CANDIDATES
    for path in candidates:
        if path is not None and path.is_file():
            return path
    raise ExportUnavailable(
        "PDF export needs the DejaVu Sans font (DejaVuSans.ttf): install Debian's "
        "fonts-dejavu-core package (`make pdf-font`) or set CALLPOOL_PDF_FONT"
    )


def pdf_columns(table: Table) -> tuple[Column, ...]:
    """The label columns, then the headline figures the table has (or its first ones)."""
    labels = [c for c in table.columns if c.kind in ("text", "date", "datetime")][:3]
    names = {c.name: c for c in table.columns}
    headline = [names[n] for n in HEADLINE if n in names and names[n] not in labels]
    if len(headline) >= 4:
        return tuple(labels + headline)[:MAX_COLUMNS]
    return table.columns[:MAX_COLUMNS]


def cell_text(value: Any, column: Column) -> str:
    if value is None:
        return "-"
    if column.kind in ("pct",) and isinstance(value, int | float):
        return f"{value:.2f}%"
    if column.kind == "ratio" and isinstance(value, int | float):
        return f"{value * 100:.2f}%"
    if column.kind == "seconds" and isinstance(value, int | float):
        seconds = round(value)
        return f"{seconds // 60}:{seconds % 60:02d}"
    if column.kind == "money" and isinstance(value, int | float | Decimal):
        return f"{Decimal(str(value)):,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return plain(value)


class _Pdf(FPDF):
    def __init__(self, font: Path) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.set_margins(10, 10, 10)
        self.set_auto_page_break(True, margin=12)
        self.add_font("DejaVu", "", str(font))
        bold = font.with_name(font.stem + "-Bold.ttf")  # table headings; else the regular
        self.add_font("DejaVu", "B", str(bold if bold.is_file() else font))
        self.set_font("DejaVu", size=9)
        self.footer_text = ""

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("DejaVu", size=7)
        self.cell(0, 5, f"{self.footer_text}   {self.page_no()}", align="R")

    def text_of(self, text: str) -> str:
        """Characters the font has no glyph for become "?" (a PDF always renders)."""
        cmap = getattr(self.current_font, "cmap", None)
        if not cmap:
            return text
        return "".join(ch if ord(ch) in cmap or ch in "\n\t" else "?" for ch in text)


def render_pdf(
    doc: ReportDoc,
    rows: Sequence[Sequence[Row]],
    *,
    font: Path | None = None,
    company: str | None = None,
    logo: Path | None = None,
) -> bytes:
    """The PDF of ``doc``; ``rows`` holds each table's rows, already read (at most
    ``MAX_ROWS`` each)."""
    pdf = _Pdf(find_font(font))
    m = doc.meta
    pdf.footer_text = pdf.text_of(f"{m.site} / {m.campaign}, {m.start}..{m.end}")
    pdf.add_page()
    if logo is not None and logo.is_file():
        pdf.image(str(logo), x=10, y=10, h=12)
        pdf.set_y(24)
    if company:
        pdf.set_font("DejaVu", size=10)
        pdf.cell(0, 6, pdf.text_of(company), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=16)
    pdf.cell(0, 9, pdf.text_of(m.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=9)
    fresh = "never" if m.fresh_at is None else m.fresh_at.isoformat(timespec="minutes")
    for line in (
        f"Campaign: {m.site} / {m.campaign}",
        f"Period: {m.start.isoformat()} .. {m.end.isoformat()} ({m.timezone})",
        f"Generated: {m.generated_at.isoformat(timespec='minutes')}; figures as of {fresh}",
    ):
        pdf.cell(0, 5, pdf.text_of(line), new_x="LMARGIN", new_y="NEXT")
    for table, table_rows in zip(doc.tables, rows, strict=True):
        pdf.ln(4)
        if table.name in CHARTED and table.chart is not None:
            _bar_chart(pdf, table, table_rows)
        else:
            _table(pdf, table, table_rows)
    return bytes(pdf.output())


def _heading(pdf: _Pdf, text: str) -> None:
    if pdf.get_y() > 250:
        pdf.add_page()
    pdf.set_font("DejaVu", size=12)
    pdf.cell(0, 7, pdf.text_of(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=8)


def _table(pdf: _Pdf, table: Table, rows: Sequence[Row]) -> None:
    _heading(pdf, table.title)
    columns = pdf_columns(table)
    labels = sum(1 for c in columns if c.kind in ("text", "date", "datetime"))
    numbers = len(columns) - labels
    label_width = min(45.0, (PAGE_WIDTH - 18 * numbers) / max(labels, 1))
    number_width = (PAGE_WIDTH - label_width * labels) / max(numbers, 1)
    widths = [label_width if c.kind in ("text", "date", "datetime") else number_width
              for c in columns]  # fmt: skip
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=4.5, first_row_as_headings=True
    ) as grid:
        head = grid.row()
        for column in columns:
            head.cell(pdf.text_of(column.title))
        total = total_row(table)
        if total is not None:
            total = {**total, columns[0].name: "Total"}
        for row in [*rows, *([total] if total is not None else [])]:
            line = grid.row()
            for column in columns:
                line.cell(pdf.text_of(cell_text(row.get(column.name), column)))
    if len(rows) >= MAX_ROWS:
        pdf.cell(0, 5, f"First {MAX_ROWS} rows; the CSV and xlsx have them all.")


def _bar_chart(pdf: _Pdf, table: Table, rows: Sequence[Row]) -> None:
    """Vertical bars of the charted figure, one per row, with a few axis labels."""
    assert table.chart is not None
    label, value = table.chart
    _heading(pdf, table.title)
    values = [float(row.get(value) or 0) for row in rows]
    if not values:
        return
    height, top = 45.0, pdf.get_y() + 2
    if top + height + 10 > 285:
        pdf.add_page()
        top = pdf.get_y() + 2
    biggest = max(values) or 1.0
    step = PAGE_WIDTH / len(values)
    pdf.set_fill_color(70, 110, 170)
    for i, amount in enumerate(values):
        bar = height * amount / biggest
        if bar > 0:
            pdf.rect(10 + i * step + step * 0.1, top + height - bar, step * 0.8, bar, style="F")
    pdf.set_draw_color(120, 120, 120)
    pdf.line(10, top + height, 10 + PAGE_WIDTH, top + height)
    pdf.set_font("DejaVu", size=6)
    every = max(1, len(values) // 12)
    for i in range(0, len(values), every):
        text = cell_text(rows[i].get(label), Column(label, label, "text"))
        pdf.text(10 + i * step, top + height + 4, pdf.text_of(text[-5:]))
    pdf.text(10, top - 0.5, pdf.text_of(f"max {biggest:g} {value}"))
    pdf.set_y(top + height + 7)
    pdf.set_font("DejaVu", size=8)
