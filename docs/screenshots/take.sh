#!/bin/sh
# Screenshots of the built book with networking disabled: proof that the HTML draws its figures,
# formulas and chapter 1's widget offline (plotly.js, MathJax and the widget manager ship with it).
# Needs Debian's `chromium` and `make html`.
# Usage: sh docs/screenshots/take.sh   (from the repository root)
set -e
B="$(pwd)/_build/html/book"
OUT="$(pwd)/docs/screenshots"
[ -f "$B/05_baselines.html" ] || { echo "no built book: run 'make html' first" >&2; exit 1; }
chrome() {  # file, png; every host name resolves to nothing, so no CDN can answer
    chromium --headless --no-sandbox --disable-gpu --host-resolver-rules="MAP * ~NOTFOUND" \
        --virtual-time-budget=20000 --window-size=1280,"$3" --screenshot="$2" "file://$1" >/dev/null 2>&1
}
section() {  # chapter, section id, png: the page with everything before that section removed
    sed "s#</body>#<script>window.addEventListener('load',()=>{let t=document.getElementById('$2');while(t \&\& t.tagName!=='ARTICLE'){let n=t.previousElementSibling;while(n){let p=n.previousElementSibling;n.remove();n=p;}t=t.parentElement;}window.scrollTo(0,0);});</script></body>#" \
        "$B/$1.html" > "$B/_shot.html"
    chrome "$B/_shot.html" "$3" 2600
    rm -f "$B/_shot.html"
}
chrome "$B/05_baselines.html" "$OUT/ch05_top_banner_and_math.png" 2200
section 05_baselines a-shape-lever-training-longer-on-identity-or-refining-at-test-time "$OUT/ch05_shape_lever.png"
section 06_orn table-7-which-part-of-the-composite-loss-matters "$OUT/ch06_table7_and_collapse.png"
section 08_focus tables-4-and-5-segmentation-and-what-each-loss-contributes "$OUT/ch08_table4_segmentation.png"
section 10_benchmark ranking "$OUT/ch10_ranking.png"
section 01_morphable_model explore-the-space "$OUT/ch01_explorer_offline.png"
section 05_baselines evaluation-on-clean-occluded-and-noisy-faces "$OUT/ch05_wide_tables.png"
section 08_focus training-initialisation-then-em "$OUT/ch08_phase_plot.png"
section 10_benchmark where-our-numbers-and-the-papers-disagree-and-why "$OUT/ch10_claims_table.png"
# 256 colours keep the repository small
"${PYTHON:-.venv/bin/python}" -c "import sys; from PIL import Image; [Image.open(p).convert('RGB').quantize(256).save(p) for p in sys.argv[1:]]" "$OUT"/*.png
echo "screenshots in $OUT"
