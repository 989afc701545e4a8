"""Renderers of a ``ReportDoc`` as files: CSV (streamed), xlsx (XlsxWriter, constant
memory) and PDF (fpdf2). Each walks the rows the report shaped once; none queries."""
