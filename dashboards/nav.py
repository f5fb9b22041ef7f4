"""The dashboard's pages: (url slug = file in sections/, title, icon). The first is the default page."""

PAGES: tuple[tuple[str, str, str], ...] = (
    ("overview", "Overview", ":material/home:"),
    ("benchmarks", "Benchmarks", ":material/speed:"),
    ("serving", "LLM serving", ":material/chat:"),
    ("hardware", "Hardware", ":material/memory:"),
    ("costs", "Costs", ":material/payments:"),
    ("plan", "Capacity plan", ":material/timeline:"),
    ("recommendations", "Recommendations", ":material/recommend:"),
    ("plan_diff", "Plan revisions", ":material/difference:"),
)
