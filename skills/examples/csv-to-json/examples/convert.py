"""CSV to typed JSON. Adapt the parameters below."""

import json

import pandas as pd

# --- Parameters -------------------------------------------------------------------
INPUT = "data/customers.csv"
OUTPUT = "customers.json"
KEY = None  # e.g. "id": an object keyed by that column instead of a list
SEPARATOR = ","
INDENT = 2
# -----------------------------------------------------------------------------------

df = pd.read_csv(
    INPUT, sep=SEPARATOR, true_values=["true", "True", "yes"], false_values=["false", "False", "no"]
)
# Empty cells become null, not NaN (NaN is not JSON).
records = json.loads(df.to_json(orient="records", date_format="iso"))

if KEY is None:
    document = records
else:
    duplicates = df[KEY][df[KEY].duplicated()].unique().tolist()
    if duplicates:
        raise SystemExit(f"{KEY!r} is not unique: {duplicates[:10]} appear more than once.")
    document = {str(row[KEY]): row for row in records}

with open(OUTPUT, "w", encoding="utf-8") as handle:
    json.dump(document, handle, indent=INDENT, ensure_ascii=False)
    handle.write("\n")

print(f"Wrote {len(records)} records from {INPUT} to {OUTPUT}.")
print("First records:")
print(json.dumps(records[:2], indent=2, ensure_ascii=False))
