// A small line chart in plain SVG: a series over time, from 0 to its
// highest value (written in its corner), with its latest value beside the label.
import type { Point } from "./history";

const WIDTH = 220;
const HEIGHT = 48;
const PAD = 3; // keeps the line's stroke and end dot inside the box

type Props = { id: string; label: string; points: Point[]; unit?: string; digits?: number };

export function Chart({ id, label, points, unit = "", digits = 0 }: Props) {
  const latest = points[points.length - 1];
  const highest = Math.max(0, ...points.map(([, y]) => y));
  const top = Math.max(1, highest);
  const first = points[0]?.[0] ?? 0;
  const span = Math.max(1, (latest?.[0] ?? 0) - first);
  const xy = points.map(([at, y]): [number, number] => [
    PAD + ((at - first) / span) * (WIDTH - 2 * PAD),
    HEIGHT - PAD - (y / top) * (HEIGHT - 2 * PAD),
  ]);
  const end = xy[xy.length - 1];
  return (
    <figure
      className="chart"
      data-testid={`chart-${id}`}
      data-points={points.length}
      data-max={highest}
    >
      <figcaption>
        {label}{" "}
        <strong data-testid={`value-${id}`}>
          {latest === undefined ? "–" : latest[1].toFixed(digits)}
        </strong>
        {latest === undefined ? "" : unit}
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width={WIDTH} height={HEIGHT} aria-hidden="true">
        <text x={PAD + 1} y={10}>
          {top.toFixed(digits)}
        </text>
        {xy.length > 1 && <polyline points={xy.map(([x, y]) => `${x},${y}`).join(" ")} />}
        {end !== undefined && <circle cx={end[0]} cy={end[1]} r={2.5} />}
      </svg>
    </figure>
  );
}
