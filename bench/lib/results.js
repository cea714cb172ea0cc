// What the bench found: printed as it goes, then written as Markdown (bench/results/latest.md) and one SVG chart
// of throughput per tool and size (bench/results/latest.svg), drawn by hand.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MiB, sizeLabel } from './files.js';

const fixed = (value, digits = 2) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
/** Two decimals, or as many more (up to five) as it takes for a ratio that is not its goal not to print as it. */
const ratioText = (ratio, goal) => {
  let digits = 2;
  while (ratio !== undefined && goal !== undefined && ratio !== goal && digits < 5 && fixed(ratio, digits) === fixed(goal, digits)) digits++;
  return fixed(ratio, digits);
};
/** A Markdown table cell: a '|' in the text would end the cell. */
const cell = (text) => String(text).replace(/\|/g, '\\|');
const escapeXml = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export class Results {
  sections = [];
  goals = [];
  bars = [];

  /** A new section: a heading on the console and in the Markdown. */
  section(title, note = '') {
    console.log(`\n## ${title}\n${note ? `${note}\n` : ''}`);
    const section = { title, note, measurements: [], checks: [], lines: [] };
    this.sections.push(section);
    return new Section(this, section);
  }

  /** The Markdown document: the goals table first (the one the README shows), then each section. */
  markdown(meta) {
    const out = [`# sft bench results`, '', meta.map(([k, v]) => `- ${k}: ${v}`).join('\n'), ''];
    out.push('## Goals (issue 8, issue 10): sft against the peer tool in the same run', '');
    out.push(...checkTable(this.goals), '');
    for (const s of this.sections) {
      out.push(`## ${s.title}`, '');
      if (s.note) out.push(s.note, '');
      if (s.measurements.length > 0) {
        out.push('| run | size | time (median) | throughput | CPU client | CPU server | page faults client / server | peak RSS client | peak RSS server | runs (s) |', '|---|---|---|---|---|---|---|---|---|---|');
        for (const m of s.measurements) out.push(measurementRow(m));
        out.push('');
      }
      if (s.checks.length > 0) out.push(...checkTable(s.checks), '');
      for (const line of s.lines) out.push(`- ${line}`);
      if (s.lines.length > 0) out.push('');
    }
    return out.join('\n');
  }

  /** Horizontal bars, one group per kind of work, each bar a tool; bars scaled within their group. */
  svg(subtitle) {
    const groups = [...new Set(this.bars.map((b) => b.group))];
    const width = 960;
    const labelWidth = 250;
    const barWidth = 480;
    const rowHeight = 22;
    let y = 64;
    const parts = [];
    for (const group of groups) {
      const bars = this.bars.filter((b) => b.group === group);
      const max = Math.max(...bars.map((b) => b.value));
      parts.push(`<text x="10" y="${y + 14}" font-weight="bold">${escapeXml(group)}</text>`);
      y += rowHeight;
      for (const bar of bars) {
        const length = max > 0 ? Math.max(1, (bar.value / max) * barWidth) : 1;
        const colour = bar.tool.startsWith('sft') ? '#2563eb' : '#9ca3af';
        parts.push(`<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${escapeXml(bar.tool)}</text>`);
        parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${length.toFixed(1)}" height="${rowHeight - 6}" fill="${colour}"/>`);
        parts.push(`<text x="${labelWidth + length + 6}" y="${y + 14}">${escapeXml(bar.label)}</text>`);
        y += rowHeight;
      }
      y += 8;
    }
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif" font-size="13">`,
      `<rect width="100%" height="100%" fill="white"/>`,
      `<text x="10" y="22" font-size="16" font-weight="bold">sft vs peer tools: throughput (longer is faster; bars scaled within each group)</text>`,
      `<text x="10" y="44" fill="#4b5563">${escapeXml(subtitle)}</text>`,
      ...parts,
      '</svg>',
      '',
    ].join('\n');
  }

  write(dir, name, meta, subtitle) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.md`), this.markdown(meta));
    writeFileSync(join(dir, `${name}.svg`), this.svg(subtitle));
    console.log(`\nresults written to ${join(dir, `${name}.md`)} and ${join(dir, `${name}.svg`)}`);
  }
}

class Section {
  constructor(results, section) {
    this.results = results;
    this.section = section;
  }

  /**
   * One measured command (median of its runs): printed, and a row of the section's table. `m` has name, size,
   * seconds, runs, client {cpu, user, sys, faults, rssMiB} (the parts and faults when measured), server (the same,
   * optional), note (optional), failed (a reason).
   */
  measurement(m) {
    this.section.measurements.push(m);
    if (m.failed !== undefined) return console.log(`${m.name.padEnd(52)} ${sizeLabel(m.size).padStart(9)}  FAILED: ${m.failed}`);
    const rss = [m.client?.rssMiB, m.server?.rssMiB].filter((x) => x !== undefined).map((x) => x.toFixed(0)).join(' / ');
    const cpu = [m.client?.cpu, m.server?.cpu].filter((x) => x !== undefined).map((x) => x.toFixed(2)).join(' / ');
    const runs = m.runs !== undefined && m.runs.length > 1 ? ` (runs ${m.runs.map((t) => t.toFixed(2)).join(', ')})` : '';
    console.log(`${m.name.padEnd(52)} ${sizeLabel(m.size).padStart(9)} ${m.seconds.toFixed(3).padStart(8)} s ${throughput(m).padStart(m.files === undefined ? 11 : 26)}  cpu ${cpu.padStart(11)} s  rss ${rss.padStart(9)} MiB  faults ${faultsText(m)}${runs}${m.note ? `  ${m.note}` : ''}`);
  }

  /**
   * A goal that compares sft's figure with the peer's: ratio ours / theirs, met when ≤ `goal` (no goal: only
   * reported). `main` puts it in the goals table at the top as well. `details` (two texts) follow each figure.
   */
  compare({ what, ours, theirs, peer, unit = 's', goal, main = true, why, details = [] }) {
    const measured = ours !== undefined && theirs !== undefined && theirs > 0;
    const ratio = measured ? ours / theirs : undefined;
    const met = goal === undefined || ratio === undefined ? undefined : ratio <= goal;
    const digits = unit === 'MiB' ? 1 : 2;
    const [ourDetail, theirDetail] = details.map((text) => (text ? ` (${text})` : ''));
    this.#check({ what, sft: `${fixed(ours, digits)} ${unit}${ourDetail ?? ''}`, peer: peer === undefined ? '' : `${peer} ${fixed(theirs, digits)} ${unit}${theirDetail ?? ''}`, ratio: ratioText(ratio, goal), goal: goal === undefined ? 'report' : `≤ ${goal}`, met, why: measured ? undefined : why ?? 'not measured' }, main);
  }

  /** A goal on sft's figure alone (peak RSS under a bound): met when `value` < `max`. */
  limit({ what, value, max, unit = 'MiB', main = true, why }) {
    const measured = value !== undefined;
    this.#check({ what, sft: `${fixed(value, 1)} ${unit}`, peer: '', ratio: '', goal: `< ${max} ${unit}`, met: measured ? value < max : undefined, why: measured ? undefined : why ?? 'not measured' }, main);
  }

  /** A bar of the chart: throughput of `tool` (a short name) in `group`. */
  bar(group, tool, mibPerSecond, label = `${mibPerSecond.toFixed(0)} MiB/s`) {
    if (Number.isFinite(mibPerSecond)) this.results.bars.push({ group, tool, value: mibPerSecond, label });
  }

  /** A note under the section (and on the console). */
  line(text) {
    this.section.lines.push(text);
    console.log(`  ${text}`);
  }

  #check(row, main) {
    this.section.checks.push(row);
    if (main) this.results.goals.push({ ...row, what: `${row.what}` });
    const verdict = row.why !== undefined ? `NOT MEASURED (${row.why})` : row.met === undefined ? 'report' : row.met ? 'met' : 'NOT met';
    console.log(`  ${row.what.padEnd(58)} sft ${row.sft}${row.peer ? ` vs ${row.peer}` : ''}${row.ratio ? `, ratio ${row.ratio}` : ''} (goal ${row.goal}): ${verdict}`);
  }
}

function throughput(m) {
  if (!(m.size > 0 && m.seconds > 0)) return '';
  const mib = m.size / MiB / m.seconds;
  return m.files === undefined ? `${mib.toFixed(0)} MiB/s` : `${(m.files / m.seconds).toFixed(0)} files/s, ${mib.toFixed(1)} MiB/s`;
}

function measurementRow(m) {
  if (m.failed !== undefined) return `| ${cell(m.name)} | ${sizeLabel(m.size)} | failed: ${cell(m.failed)} | | | | | | | |`;
  const rss = (side) => (side?.rssMiB === undefined ? '–' : `${side.rssMiB.toFixed(0)} MiB`);
  return `| ${cell(m.name)}${m.note ? ` (${cell(m.note)})` : ''} | ${sizeLabel(m.size)} | ${m.seconds.toFixed(2)} s | ${throughput(m)} | ${cpuText(m.client)} | ${cpuText(m.server)} | ${faultsText(m)} | ${rss(m.client)} | ${rss(m.server)} | ${(m.runs ?? []).map((t) => t.toFixed(2)).join(', ')} |`;
}

/** CPU seconds of a side, with its user and system parts when measured: `3.60 s (2.31 user + 1.29 sys)`. */
const cpuText = (side) => (side?.cpu === undefined ? '–' : `${side.cpu.toFixed(2)} s${side.user === undefined ? '' : ` (${cpuParts(side)})`}`);

/** The user and system parts of a side's CPU, per `per` units of work: `2.31 user + 1.29 sys`. */
export function cpuParts(side, per = 1) {
  return side?.user === undefined ? '' : `${(side.user / per).toFixed(2)} user + ${(side.sys / per).toFixed(2)} sys`;
}

/** A count in thousands (`36.5k`), or – when not measured. */
const thousands = (n) => (n === undefined ? '–' : n < 1000 ? String(Math.round(n)) : `${(n / 1000).toFixed(1)}k`);

/** The page faults of each side a measurement has: `46.5k / 27.9k`. */
const faultsText = (m) => [m.client, m.server].filter((side) => side !== undefined).map((side) => thousands(side.faults)).join(' / ');

function checkTable(rows) {
  if (rows.length === 0) return ['(none measured in this run)'];
  const verdict = (row) => (row.why !== undefined ? `not measured: ${cell(row.why)}` : row.met === undefined ? 'reported' : row.met ? 'met' : '**NOT met**');
  return ['| what | sft | peer, same run | ratio sft/peer | goal | |', '|---|---|---|---|---|---|', ...rows.map((r) => `| ${cell(r.what)} | ${r.sft} | ${cell(r.peer)} | ${r.ratio} | ${r.goal} | ${verdict(r)} |`)];
}
