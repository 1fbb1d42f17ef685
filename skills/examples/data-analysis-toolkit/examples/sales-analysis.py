"""Summary and revenue-by-category chart of a sales CSV. Adapt the parameters below."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

# --- Parameters -------------------------------------------------------------------
CSV_PATH = "data/sales.csv"
GROUP_BY = "region"
AMOUNT = "revenue"
CHART_PATH = "revenue_by_region.png"
# -----------------------------------------------------------------------------------

df = pd.read_csv(CSV_PATH)
if AMOUNT not in df.columns and {"units", "unit_price"} <= set(df.columns):
    df[AMOUNT] = df["units"] * df["unit_price"]

print(f"Rows: {len(df)}  Columns: {', '.join(df.columns)}")
print(f"Total {AMOUNT}: {df[AMOUNT].sum():,.2f}")

breakdown = df.groupby(GROUP_BY)[AMOUNT].agg(["sum", "mean", "count"])
breakdown["share_%"] = (100 * breakdown["sum"] / breakdown["sum"].sum()).round(1)
breakdown = breakdown.sort_values("sum", ascending=False)
print(f"\n{AMOUNT.capitalize()} by {GROUP_BY}:")
print(breakdown.round(2).to_string())

print("\nTop 5 rows:")
print(df.sort_values(AMOUNT, ascending=False).head(5).to_string(index=False))

fig, ax = plt.subplots(figsize=(7, 4))
breakdown["sum"].plot.bar(ax=ax, color="#4c72b0")
ax.set_title(f"{AMOUNT.capitalize()} by {GROUP_BY}")
ax.set_xlabel(GROUP_BY)
ax.set_ylabel(AMOUNT)
ax.tick_params(axis="x", rotation=0)
fig.tight_layout()
fig.savefig(CHART_PATH, dpi=100)
print(f"\nChart saved to {CHART_PATH}")
try:
    from IPython.display import Image, display

    display(Image(filename=CHART_PATH))
except ImportError:
    pass
