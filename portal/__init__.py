"""The pages that span every area of a workspace: the home redirect, the dashboard, the
workspace settings and the demo data. The top of the layering: it may import every app,
and no app imports it."""
