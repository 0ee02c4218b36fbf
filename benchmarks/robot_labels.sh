#!/usr/bin/env bash
# From a folder of robot bags to written labels, timed, as README's walkthrough runs it, then the
# alignment's scores on them: RGB-D (the default: depth masks, ImageNet features, up prior), the
# same without the appearance term, and RGB only (the network's depth and masks). Prints seqpose-align's JSON lines (Acc@30, Acc@10,
# the labels' median rotation, centre and size errors against the truth beside the bags).
#   bash benchmarks/robot_labels.sh CATEGORY SEED OUT   (e.g. mug 4242 /tmp/robot_heldout)
#   SENSOR=realistic bash benchmarks/robot_labels.sh ...   (a real camera's faults: seqpose-orbits --sensor)
#   ORBIT_SECONDS=30 ...   (an orbit at a real arm's pace, 15 Hz: seqpose-orbits --seconds; default 16 frames)
#   SIZE="640 480" ...     (the colour and depth images' width and height; default 160 120)
# For every method and baseline on the same videos:
#   python benchmarks/bench_align.py --videos OUT/videos --truth OUT/bags --depth video network
set -euo pipefail
category=$1 seed=$2 out=$3
bin=${BIN:-.venv/bin}
sensor=${SENSOR:-ideal}
pace=${ORBIT_SECONDS:+--seconds $ORBIT_SECONDS}
read -r width height <<< "${SIZE:-160 120}"
rm -rf "$out/bags/$category" "$out/videos/$category" "$out/labels/$category"
"$bin/seqpose-orbits" --out "$out/bags/$category" --category "$category" --count 20 --seed "$seed" \
  --sensor "$sensor" --width "$width" --height "$height" $pace
start=$SECONDS
for bag in "$out/bags/$category"/orbit_*/; do
  "$bin/seqpose-video" "$bag" --out "$out/videos/$category/$(basename "$bag")" --category "$category" \
    --fixed-frame base_link > /dev/null
done
echo "$category RGB-D:"
"$bin/seqpose-align" "$out/videos/$category" --labels "$out/labels/$category" --evaluate \
  --truth "$out/bags/$category"
echo "$category: 20 bags to labels in $((SECONDS - start)) s (scoring included)"
echo "$category RGB-D, geometry alone (no appearance term):"
"$bin/seqpose-align" "$out/videos/$category" --features none --evaluate --truth "$out/bags/$category" \
  --out "$out/videos/$category/alignment_geometry.json" | tail -1
echo "$category RGB only:"
"$bin/seqpose-align" "$out/videos/$category" --depth network --masks network --evaluate \
  --truth "$out/bags/$category" --out "$out/videos/$category/alignment_rgb.json" | tail -1
