import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { RESULTS_DIR } from './paths';

/** One line of the results table. */
export interface Row {
  id: string;
  scenario: string;
  measured: string;
  baseline: string;
  /** measured / baseline in the direction the target is stated. */
  ratio: number;
  target: string;
  /** null for an informational row without a target. */
  pass: boolean | null;
}

/** What a scenario hands back: table rows, every raw number, and remarks for the reader. */
export interface ScenarioResult {
  rows: Row[];
  raw: Record<string, unknown>;
  notes: string[];
}

/** A scenario's outcome in the JSON report. */
export interface ScenarioReport extends Partial<ScenarioResult> {
  id: string;
  title: string;
  durationMs: number;
  error?: string;
}

const COLUMNS: (keyof Row)[] = ['id', 'scenario', 'measured', 'baseline', 'ratio', 'target', 'pass'];

function cell(row: Row, column: keyof Row): string {
  const value = row[column];
  if (column === 'pass') return value === null ? '-' : value ? 'yes' : 'NO';
  if (column === 'ratio') return Number.isFinite(value) ? (value as number).toFixed(2) : '-';
  return String(value);
}

/** The results as a Markdown table, errored scenarios included. */
export function formatTable(reports: ScenarioReport[]): string {
  const rows: string[][] = [];
  for (const r of reports) {
    if (r.error) rows.push([r.id, r.title, `ERROR: ${r.error.split('\n')[0].slice(0, 100)}`, '', '', '', 'NO']);
    for (const row of r.rows ?? []) rows.push(COLUMNS.map((c) => cell(row, c)));
  }
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The machine the numbers came from. */
export function machineInfo() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    totalmem: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** Writes the report to bench/results/<timestamp>.json and bench/results/latest.json; returns both paths. */
export function writeResults(report: object, started: Date): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  // ISO 8601 with the colons swapped for dashes, so the name is valid on every filesystem.
  const stamped = join(RESULTS_DIR, `${started.toISOString().replace(/:/g, '-')}.json`);
  const latest = join(RESULTS_DIR, 'latest.json');
  const text = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(stamped, text);
  writeFileSync(latest, text);
  return [stamped, latest];
}
