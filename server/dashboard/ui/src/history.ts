// The Connections view's time series, kept in the page: each new version of
// a node's `_nodes` document (written every `[server] node_refresh` seconds)
// is one sample of it. The dashboard keeps them while signed in, whichever
// view is open; counts are cumulative, so rates come from successive samples.
import { useQuery } from "convex/react";
import { useEffect, useState } from "react";
import { dashboard, type Health, type NodeEntry, type NodeStats } from "./admin";

// An hour at the default 15 s refresh.
const MAX_SAMPLES = 240;

export type Sample = { at: number; node: NodeEntry }; // at: the node's lastSeen, ms
export type Point = [at: number, value: number];
// Each live node's samples, oldest first, by node id.
export type History = ReadonlyMap<string, Sample[]>;

function extended(history: History, nodes: NodeEntry[]): History {
  // A node gone from `_nodes` leaves the history with it.
  const next = new Map<string, Sample[]>();
  for (const node of nodes) {
    const series = history.get(node.nodeId) ?? [];
    const last = series[series.length - 1];
    next.set(
      node.nodeId,
      last !== undefined && last.at >= node.lastSeen
        ? series
        : [...series, { at: node.lastSeen, node }].slice(-MAX_SAMPLES),
    );
  }
  return next;
}

export function useNodeHistory(): { health: Health | undefined; history: History } {
  const health = useQuery(dashboard.health);
  const [history, setHistory] = useState<History>(new Map());
  useEffect(() => {
    if (health !== undefined) setHistory((before) => extended(before, health.nodes));
  }, [health]);
  return { health, history };
}

export function values(series: Sample[], value: (node: NodeEntry) => number): Point[] {
  return series.map(({ at, node }) => [at, value(node)]);
}

// Per minute, between each sample and the one before, of a cumulative count.
export function perMinute(series: Sample[], count: (stats: NodeStats) => number): Point[] {
  return between(series, (a, b, minutes) => Math.max(0, count(b) - count(a)) / minutes);
}

// The mean commit duration of the commits between successive samples (none
// there: no point).
export function commitLatency(series: Sample[]): Point[] {
  return between(series, (a, b) =>
    meanBetween(a.commits, a.commitMeanMs, b.commits, b.commitMeanMs),
  );
}

// The mean of what happened between two reports, from each one's count and
// mean since the node started; null when nothing did.
export function meanBetween(
  countA: number,
  meanA: number,
  countB: number,
  meanB: number,
): number | null {
  const count = countB - countA;
  return count > 0 ? (meanB * countB - meanA * countA) / count : null;
}

function between(
  series: Sample[],
  figure: (a: NodeStats, b: NodeStats, minutes: number) => number | null,
): Point[] {
  const points: Point[] = [];
  for (let n = 1; n < series.length; n++) {
    const [a, b] = [series[n - 1], series[n]];
    if (a.node.stats === undefined || b.node.stats === undefined) continue;
    const value = figure(a.node.stats, b.node.stats, (b.at - a.at) / 60_000);
    if (value !== null && Number.isFinite(value)) points.push([b.at, value]);
  }
  return points;
}

export const last = <T,>(items: T[]): T | undefined => items[items.length - 1];
