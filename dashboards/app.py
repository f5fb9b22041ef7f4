"""capplan dashboard: a Streamlit multipage app over the results store, catalog and planner.

Start it with ``capplan dashboard [--store URL] [--port N]``. Each page is a thin script in
``sections/`` that calls its ``render_*_page`` function with ``dash_common.page_preamble``'s result;
all logic lives in ``capplan.views``. Files here import only ``capplan.views``, streamlit, the standard
library and each other (tests/test_layering_dashboards.py checks it).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from nav import PAGES

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="capplan", page_icon=":material/insights:", layout="wide")
navigation = st.navigation(
    [st.Page(HERE / "sections" / f"{slug}.py", title=title, icon=icon, url_path=slug, default=i == 0)
     for i, (slug, title, icon) in enumerate(PAGES)]
)
navigation.run()
