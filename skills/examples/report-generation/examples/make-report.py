"""A PDF report (reportlab) from a CSV: key figures, totals by category, a chart."""

import datetime
import io
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from pypdf import PdfReader
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table

# --- Parameters -------------------------------------------------------------------
CSV_PATH = "data/expenses.csv"
CATEGORY = "category"
AMOUNT = "amount"
TITLE = "Expense report"
CURRENCY = "EUR"
OUTPUT = "report.pdf"
# -----------------------------------------------------------------------------------

df = pd.read_csv(CSV_PATH)
totals = df.groupby(CATEGORY)[AMOUNT].sum().sort_values(ascending=False)
styles = getSampleStyleSheet()


def money(value: float) -> str:
    return f"{CURRENCY} {value:,.2f}"


def chart() -> Image:
    fig, ax = plt.subplots(figsize=(6, 3))
    totals.plot.barh(ax=ax, color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlabel(AMOUNT)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    plt.close(fig)
    buffer.seek(0)
    return Image(buffer, width=15 * cm, height=7.5 * cm)


table = Table(
    [[CATEGORY.capitalize(), "Total", "Share"]]
    + [[escape(str(k)), money(v), f"{100 * v / totals.sum():.1f} %"] for k, v in totals.items()],
    hAlign="LEFT",
)
table.setStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
    ]
)
story = [
    Paragraph(escape(TITLE), styles["Title"]),
    Paragraph(
        f"Generated {datetime.datetime.now(datetime.UTC):%d %B %Y} from {escape(CSV_PATH)}",
        styles["Normal"],
    ),
    Spacer(1, 0.5 * cm),
    Paragraph(
        f"<b>{len(df)}</b> entries, total <b>{money(df[AMOUNT].sum())}</b>, "
        f"largest category <b>{escape(str(totals.index[0]))}</b>.",
        styles["Normal"],
    ),
    Spacer(1, 0.5 * cm),
    table,
    Spacer(1, 0.5 * cm),
    chart(),
]
SimpleDocTemplate(OUTPUT, pagesize=A4, title=TITLE).build(story)

pages = len(PdfReader(OUTPUT).pages)
with open(OUTPUT, "rb") as handle:
    size = len(handle.read())
print(f"Report written to {OUTPUT}: {pages} page(s), {size:,} bytes.")
print(totals.map(money).to_string())
