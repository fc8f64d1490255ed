"""``vla-grounding markers``: print-ready ArUco markers for grounding_node's fiducials parameters.

One PNG per id, with its print resolution set so that the black square measures ``--size``
when printed at 100 % (no "fit to page"). Measure the printed square anyway: its side is what
``fiducials.size`` must say. Then tape the markers flat on the table outside the workspace,
touch each centre with the tool, and put the positions in ``fiducials.xy``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

INCH = 0.0254


def main(argv: list[str]) -> int:
    from vla_grounding.perception.fiducials import CELLS, DICTIONARIES, marker_image

    parser = argparse.ArgumentParser(prog="vla-grounding markers", description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--size", type=float, default=0.05, help="side of the black square (m)")
    parser.add_argument("--dictionary", default="DICT_4X4_50", choices=DICTIONARIES)
    parser.add_argument("--dpi", type=int, default=300, help="printer resolution")
    parser.add_argument("--out", default="markers", help="folder for marker_<id>.png")
    args = parser.parse_args(argv)
    if not 0.005 <= args.size <= 1.0:
        parser.error(f"--size is the square's side in metres (0.005 to 1), got {args.size}")
    if args.dpi < 72:
        parser.error(f"--dpi must be >= 72, got {args.dpi}")
    limit = 50 if args.dictionary != "DICT_APRILTAG_36h11" else 587
    bad = [i for i in args.ids if not 0 <= i < limit]
    if bad:
        parser.error(f"ids {bad} are not in {args.dictionary} (0 to {limit - 1})")
    from PIL import Image

    cells = CELLS[args.dictionary]
    per_cell = max(1, round(args.size / INCH * args.dpi / cells))
    dpi = per_cell * cells / (args.size / INCH)  # exact: the square prints at --size
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for marker_id in args.ids:
        path = out / f"marker_{marker_id}.png"
        Image.fromarray(marker_image(marker_id, args.dictionary, per_cell)).save(path, dpi=(dpi, dpi))
        print(f"wrote {path}: {args.dictionary} id {marker_id}, black square {1000 * args.size:.1f} mm at "
              f"{dpi:.1f} dpi")
    ids = ", ".join(str(i) for i in args.ids)
    print(f"\nfor your params file (/** section), once the markers lie on the table:\n  fiducials:\n    ids: [{ids}]\n"
          f"    xy: [...]                 # each centre's x, y in the base frame (m), in the order of ids\n"
          f"    size: {args.size:g}\n    height: 0.0              # the paper's height above the table (m)\n"
          f"    dictionary: {args.dictionary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
