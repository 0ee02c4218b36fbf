#!/usr/bin/env bash
# Time and peak memory of the robot path at a real camera's size: 20 bags of 640x480 at 15 Hz
# over 30 s (#47) through seqpose-video and seqpose-align --labels, as README's walkthrough
# runs them. Rendering 9,000 frames at 640x480 takes hours here, so UNIQUE recordings are
# generated (realistic sensor) and each bag is copied until there are 20: the work of the two
# tools does not depend on what the images show.
#   bash benchmarks/label_scale.sh OUT [UNIQUE=2]
# With RECORDINGS=DIR, the unique bags are DIR's orbit_NNN (made by an earlier run) instead.
set -euo pipefail
out=$1 unique=${2:-2}
bin=${BIN:-.venv/bin}
rm -rf "$out" && mkdir -p "$out/bags"
if [[ -n "${RECORDINGS:-}" ]]; then
  mkdir -p "$out/unique" && cp -r "$RECORDINGS"/orbit_* "$out/unique/"
  unique=$(find "$out/unique" -maxdepth 1 -name 'orbit_*' -type d | wc -l)
else
  "$bin/seqpose-orbits" --out "$out/unique" --category mug --count "$unique" --seed 808 --seconds 30 \
    --width 640 --height 480 --sensor realistic
fi
for i in $(seq 0 19); do
  src=$(printf "%s/unique/orbit_%03d" "$out" $((i % unique)))
  cp -r "$src" "$(printf "%s/bags/orbit_%03d" "$out" "$i")"
done
start=$SECONDS
/usr/bin/time -f "seqpose-video, 20 bags: peak %M KiB" bash -c "for bag in $out/bags/orbit_*/; do
  $bin/seqpose-video \"\$bag\" --out \"$out/videos/\$(basename \"\$bag\")\" --category mug --fixed-frame base_link 2>/dev/null
done" > /dev/null
video=$((SECONDS - start))
/usr/bin/time -f "seqpose-align --labels: peak %M KiB" "$bin/seqpose-align" "$out/videos" --labels "$out/labels" \
  --features none 2> >(grep -v "frames, .* masks" >&2)
echo "20 bags of 640x480, 30 s at 15 Hz: seqpose-video ${video} s, bags to labels $((SECONDS - start)) s"
