/**
 * The standards as data: the 93 ISO/IEC 27001:2022 controls, the mapping of
 * lifecycle steps to ISO/IEC 42001 controls and clauses, and the cross-walk
 * between the two standards. Every id is checked against its own standard,
 * both lists must be complete, and the schemas refuse what would make them
 * wrong. Also: no control label is written outside the mapping.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildStatement } from '../domain/applicability.js';
import { annexAControls, controlIds } from '../domain/controls.js';
import {
  controlList,
  controlMapping,
  controlMappingSchema,
  stepReference,
  stepsForControl,
  stepsForEvent,
} from '../domain/control-mapping.js';
import { crosswalk, crosswalkSchema, crosswalkSource } from '../domain/crosswalk.js';
import { iso27001Controls, iso27001ListSchema, iso27001ThemeShape } from '../domain/iso27001.js';

const iso27001 = new Map(iso27001Controls.map((c) => [c.id, c]));
const clone = <T>(v: T): T => structuredClone(v);
const messages = (r: { success: boolean; error?: { issues: { message: string; path: PropertyKey[] }[] } }) =>
  r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

describe('ISO/IEC 27001:2022 Annex A', () => {
  it('has the 93 controls, 37 organizational, 8 people, 14 physical, 34 technological, numbered without gaps', () => {
    expect(iso27001Controls).toHaveLength(93);
    const byTheme: Record<string, typeof iso27001Controls> = {};
    for (const c of iso27001Controls) byTheme[c.theme] = [...(byTheme[c.theme] ?? []), c];
    for (const [theme, { clause, count }] of Object.entries(iso27001ThemeShape)) {
      const ids = byTheme[theme]!.map((c) => c.id);
      expect(ids).toEqual(Array.from({ length: count }, (_, i) => `${clause}.${i + 1}`));
    }
    expect(iso27001.get('5.1')!.title).toBe('Policies for information security');
    expect(iso27001.get('5.23')!.title).toBe('Information security for use of cloud services');
    expect(iso27001.get('8.15')!.title).toBe('Logging');
    expect(iso27001.get('8.34')!.title).toBe('Protection of information systems during audit testing');
  });

  it('refuses a list with a control missing, twice, or in the wrong theme', () => {
    const rows = iso27001Controls.map((c) => ({ ...c }));
    expect(iso27001ListSchema.safeParse(rows).success).toBe(true);
    expect(messages(iso27001ListSchema.safeParse(rows.filter((c) => c.id !== '7.4')))).toContain(
      ': 7.4 (physical) is missing',
    );
    expect(messages(iso27001ListSchema.safeParse([...rows, rows[0]]))).toContain('93.id: 5.1 is listed twice');
    const wrongTheme = rows.map((c) => (c.id === '6.3' ? { ...c, theme: 'technological' as const } : c));
    expect(messages(iso27001ListSchema.safeParse(wrongTheme))).toContain(
      '39.theme: 6.3 is not in the technological theme',
    );
  });
});

describe('the cross-walk', () => {
  it('names every one of the 38 ISO/IEC 42001 controls once, and only ids that exist in each standard', () => {
    const controls = crosswalkSource.entries.map((e) => e.control);
    expect([...controls].sort()).toEqual([...controlIds].sort());
    for (const e of crosswalkSource.entries) {
      expect(Object.keys(annexAControls), e.control).toContain(e.control);
      for (const p of e.pairs) expect(iso27001.has(p.iso27001), `${e.control} ↔ ${p.iso27001}`).toBe(true);
    }
    expect(crosswalkSchema.safeParse(crosswalkSource).success).toBe(true);
  });

  it('holds the published pairings, in the 2022 numbering', () => {
    const paired = (control: string) =>
      crosswalk.entries.find((e) => e.control === control)!.pairs.map((p) => p.iso27001);
    expect(paired('A.2.2')).toContain('5.1'); // information-security policies ↔ AI policy
    expect(paired('A.3.2')).toEqual(expect.arrayContaining(['5.2', '5.3', '5.4'])); // organisation ↔ roles
    expect(paired('A.4.6')).toEqual(expect.arrayContaining(['6.1', '6.2', '6.3'])); // human resources ↔ resources
    expect(paired('A.4.2')).toContain('5.9'); // asset management ↔ resources
    expect(paired('A.5.2')).toContain('5.8'); // risk assessment ↔ impact assessment
    expect(paired('A.8.4')).toEqual(expect.arrayContaining(['5.24', '5.25', '5.26', '5.27', '6.8'])); // incidents
    expect(paired('A.6.2.8')).toContain('8.15'); // logging ↔ event logs
    expect(paired('A.10.3')).toEqual(expect.arrayContaining(['5.19', '5.20', '5.21', '5.22'])); // suppliers
    // What an ISMS has nothing for.
    for (const control of ['A.5.5', 'A.7.4', 'A.9.3']) expect(paired(control), control).toEqual([]);
    for (const e of crosswalk.entries) expect(e.aiSpecific.length, e.control).toBeGreaterThan(10);
  });

  it('refuses an id either standard lacks, a 2013 number, a missing control and a pair given twice', () => {
    const unknown42001 = clone(crosswalkSource);
    unknown42001.entries[0]!.control = 'A.2.9';
    expect(messages(crosswalkSchema.safeParse(unknown42001)).join('\n')).toMatch(
      /entries\.0\.control: must be an ISO\/IEC 42001/,
    );
    const old = clone(crosswalkSource);
    old.entries.find((e) => e.control === 'A.6.2.8')!.pairs[0]!.iso27001 = 'A.12.4' as never;
    expect(messages(crosswalkSchema.safeParse(old)).join('\n')).toMatch(
      /pairs\.0\.iso27001: must be an ISO\/IEC 27001:2022/,
    );
    const missing = clone(crosswalkSource);
    missing.entries = missing.entries.filter((e) => e.control !== 'A.9.4');
    expect(messages(crosswalkSchema.safeParse(missing))).toContain('entries: A.9.4 is missing');
    const twice = clone(crosswalkSource);
    const a322 = twice.entries.find((e) => e.control === 'A.3.2')!;
    a322.pairs.push({ ...a322.pairs[0]! });
    expect(messages(crosswalkSchema.safeParse(twice)).join('\n')).toMatch(/5\.2 is paired with A\.3\.2 twice/);
  });
});

describe('the control mapping', () => {
  it('places each of the 38 controls once, lifecycle controls with a step that implements them', () => {
    expect(controlMapping.version).toMatch(/^\d+$/);
    expect(controlMapping.controls.map((c) => c.control)).toEqual(controlIds);
    for (const c of controlMapping.controls) {
      const { implementedBy } = stepsForControl(c.control);
      if (c.evidence === 'lifecycle') expect(implementedBy.length, c.control).toBeGreaterThan(0);
      else expect(implementedBy, c.control).toEqual([]);
    }
    for (const org of ['A.2.2', 'A.2.3', 'A.2.4', 'A.3.2', 'A.3.3', 'A.4.2', 'A.4.3', 'A.4.4', 'A.4.5', 'A.4.6'])
      expect(controlMapping.controls.find((c) => c.control === org)!.evidence, org).toBe('organisation');
  });

  it('says what the issue says each step evidences', () => {
    expect(stepReference('registration')).toBe('ISO/IEC 42001 A.9.4');
    expect(stepReference('impact_assessment')).toMatch(/^ISO\/IEC 42001 A\.5\.2–A\.5\.5\b/);
    expect(stepReference('data_sources')).toBe('ISO/IEC 42001 A.7.3–A.7.5');
    expect(stepReference('suppliers')).toBe('ISO/IEC 42001 A.10.2–A.10.3');
    expect(stepReference('bias_evidence')).toBe('ISO/IEC 42001 A.6.2.4');
    expect(stepReference('plan_approval')).toContain('clause 6.1.3(f)');
    expect(stepReference('review')).toBe('ISO/IEC 42001 A.6.2.6, clause 8.4');
    expect(stepReference('incident')).toMatch(/^ISO\/IEC 42001 A\.8\.4\b/);
    expect(stepReference('fria_notice')).toBe('ISO/IEC 42001 A.8.3');
  });

  it('writes runs of neighbouring controls as ranges, never across groups', () => {
    expect(controlList(['A.5.5', 'A.5.3', 'A.5.2', 'A.5.4'])).toBe('A.5.2–A.5.5');
    expect(controlList(['A.4.6', 'A.5.2'])).toBe('A.4.6, A.5.2');
    expect(controlList(['A.6.2.4', 'A.6.2.6', 'A.9.4'])).toBe('A.6.2.4, A.6.2.6, A.9.4');
    expect(controlList(['A.10.2', 'A.10.3', 'A.10.4', 'A.2.2'])).toBe('A.2.2, A.10.2–A.10.4');
  });

  it('tells which step an audit-trail event is the record of', () => {
    expect(stepsForEvent({ type: 'stage_changed', payload: { from: null, to: 'impact_assessment' } })).toEqual([
      'registration',
    ]);
    expect(stepsForEvent({ type: 'stage_changed', payload: { from: 'approval', to: 'active' } })).toEqual([]);
    expect(stepsForEvent({ type: 'decision_recorded', payload: { purpose: 'review' } })).toEqual(['review']);
    expect(stepsForEvent({ type: 'decision_recorded', payload: { purpose: 'lifecycle' } })).toEqual(['plan_approval']);
    expect(stepsForEvent({ type: 'assessment_submitted', payload: {} })).toEqual([
      'impact_assessment',
      'data_sources',
      'suppliers',
    ]);
    for (const type of ['corrective_action_reminder_sent', 'corrective_action_overdue', 'corrective_action_closed'])
      expect(stepsForEvent({ type, payload: { incidentId: 'inc-1' } }), type).toEqual(['corrective_action']);
    expect(stepReference('corrective_action')).toBe('ISO/IEC 42001 clause 10.2');
  });

  it("counts a corrective action's reminders and overdue notices as evidence for A.8.4, in words", () => {
    const at = (min: number) => new Date(Date.UTC(2026, 10, 2, 9, min)).toISOString();
    const due = '2026-12-02T09:00:00.000Z';
    const statement = buildStatement({
      now: new Date(Date.UTC(2026, 11, 10)),
      policyVersion: 'test',
      applicability: { exclusions: [] },
      organisation: [],
      systems: [
        {
          systemId: 'ca-system',
          name: 'CA system',
          stage: 'active',
          riskTier: 'high',
          reviewDueAt: null,
          registration: null,
          latestAssessment: null,
          plans: new Map(),
          events: [
            { seq: 1, type: 'stage_changed', actor: 'a@example.org', at: at(0), payload: { from: null } },
            { seq: 2, type: 'incident_reported', actor: 'a@example.org', at: at(1), payload: { id: 'inc-1' } },
            {
              seq: 3,
              type: 'corrective_action_reminder_sent',
              actor: null,
              at: at(2),
              payload: { incidentId: 'inc-1', owner: 'fix@example.org', dueAt: due },
            },
            {
              seq: 4,
              type: 'corrective_action_overdue',
              actor: null,
              at: at(3),
              payload: { incidentId: 'inc-1', owner: 'fix@example.org', dueAt: due, escalation: 2 },
            },
          ],
        },
      ],
    });
    expect(statement.mappingVersion).toBe(controlMapping.version);
    const a84 = statement.controls.find((c) => c.id === 'A.8.4')!;
    expect(a84.supportedBy.map((r) => r.step)).toContain('corrective_action');
    const evidence = a84.systems[0]!.evidence;
    expect(evidence.map((x) => [x.step, x.href])).toEqual([
      ['incident', '/systems/ca-system#event-2'],
      ['corrective_action', '/systems/ca-system#event-3'],
      ['corrective_action', '/systems/ca-system#event-4'],
    ]);
    expect(evidence[1]!.what).toBe('Corrective action for incident inc-1: fix@example.org reminded, due 2026-12-02');
    expect(evidence[2]!.what).toBe(
      'Corrective action for incident inc-1 overdue since 2026-12-02: notice 2 to fix@example.org and the governance lead',
    );
  });

  it('refuses an unknown control, a control left out, and a lifecycle control nothing implements', () => {
    const m = () => clone(controlMapping);
    const unknown = m();
    unknown.steps[0]!.implements = ['A.11.1' as never];
    expect(messages(controlMappingSchema.safeParse(unknown)).join('\n')).toMatch(
      /steps\.0\.implements\.0: must be an ISO\/IEC 42001/,
    );
    const left = m();
    left.controls = left.controls.filter((c) => c.control !== 'A.8.3');
    expect(messages(controlMappingSchema.safeParse(left))).toContain('controls: A.8.3 is missing');
    const orphan = m();
    orphan.steps.find((s) => s.id === 'fria_notice')!.implements = [];
    orphan.steps.find((s) => s.id === 'fria_notice')!.supports = ['A.8.3'];
    expect(messages(controlMappingSchema.safeParse(orphan)).join('\n')).toMatch(
      /A\.8\.3 is evidenced by the lifecycle, but no step implements it/,
    );
  });
});

/** Code outside domain/ that shows people a control label must take it from the mapping: strings only, comments may cite. */
describe('no control label is written by hand', () => {
  const folders = ['api', 'activities', 'cli', 'views', 'embedded', 'worker'];
  const label = /\b(?:A\.(?:[2-9]|10)(?:\.\d+){0,2}\b|clauses? \d+)/;

  async function* sources(dir: string): AsyncGenerator<string> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) yield* sources(path);
      else if (/\.(?:ts|mjs)$/.test(entry.name)) yield path;
    }
  }

  it(`in ${folders.join(', ')}`, async () => {
    const found: string[] = [];
    for (const folder of folders) {
      for await (const file of sources(folder)) {
        // Comments say why and may cite the standard; strings are what people read.
        const code = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
        for (const [i, line] of code.split('\n').entries()) if (label.test(line)) found.push(`${file}: ${line.trim()}`);
      }
    }
    expect(
      found,
      `control labels written by hand (take them from domain/control-mapping.ts):\n${found.join('\n')}`,
    ).toEqual([]);
  });
});
