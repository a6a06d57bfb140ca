/**
 * The benchmark's action counter (bench/actions.ts) on recorded histories, against counts made by hand from their
 * event types (python3 -c over the JSON, listed in each test), and on made-up events for what the recordings lack.
 */
import { readFileSync } from 'node:fs';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import {
  addCounts,
  countActions,
  inputKinds,
  mailsPerInput,
  necessaryActions,
  productMails,
} from '../bench/actions.js';
import { historyFromJson } from './support/history-json.js';

const E = proto.temporal.api.enums.v1.EventType;
type Event = proto.temporal.api.history.v1.IHistoryEvent;

const recorded = (name: string): Event[] =>
  historyFromJson(JSON.parse(readFileSync(new URL(`./histories/${name}`, import.meta.url), 'utf8'))).events ?? [];

describe('countActions on recorded histories', () => {
  it('counts v2-approved-to-active (registration to active, FRIA notified) as its events add up', () => {
    const events = recorded('v2-approved-to-active.json');
    const c = countActions(events);
    // By hand: 166 events; 29 WORKFLOW_TASK_COMPLETED; 1 WORKFLOW_EXECUTION_STARTED; 6 UPDATE_ACCEPTED (assessment,
    // evidence, plan, two decisions, the FRIA notification); 7 TIMER_STARTED; 7 UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, none
    // of them TemporalChangeVersion alone; 14 ACTIVITY_TASK_SCHEDULED, every ACTIVITY_TASK_STARTED at attempt 1;
    // 4 WORKFLOW_PROPERTIES_MODIFIED (memo); no marker, no signal.
    expect(c).toEqual({
      events: 166,
      workflowTasks: 29,
      starts: 1,
      signals: 0,
      updates: 6,
      timers: 7,
      searchAttributeUpserts: 7,
      activities: 14,
      activityRetries: 0,
      localActivityTasks: 0,
      childWorkflows: 0,
      memoUpserts: 4,
      changeVersionUpserts: 0,
      localActivities: 0,
      actions: 1 + 6 + 7 + 7 + 14,
    });
    // 7 deliverNotification activities: one after the registration's records (scheduled once the assessment had
    // arrived), three after the plan, one after each decision's records but the last, which has two.
    expect(mailsPerInput(events, productMails)).toEqual([0, 1, 0, 3, 1, 2, 0]);
    expect(inputKinds(events)).toEqual(Array(6).fill('update'));
    // The start, 6 inputs, 7 e-mails, 5 stage changes (bias_testing, risk_treatment, approval, fria_notification, active).
    expect(necessaryActions({ starts: 1, humanInputs: 6, emails: 7, stageChanges: 5 })).toBe(19);
  });

  it('counts local activities once per workflow task and leaves out TemporalChangeVersion upserts', () => {
    const events = recorded('v2-fria-scope-private-deployer.json');
    const c = countActions(events);
    // By hand: 158 events, 27 workflow tasks, 5 updates, 6 timers, 12 activities at attempt 1, 4 memo upserts;
    // 8 upserts of which 3 (events 6, 10, 105) set TemporalChangeVersion only; 4 core_local_activity markers
    // recorded by the workflow tasks completed at events 43, 101 (two) and 132; 3 core_patch markers.
    expect(c).toMatchObject({
      events: 158,
      workflowTasks: 27,
      starts: 1,
      updates: 5,
      timers: 6,
      searchAttributeUpserts: 5,
      changeVersionUpserts: 3,
      activities: 12,
      activityRetries: 0,
      localActivities: 4,
      localActivityTasks: 3,
      memoUpserts: 4,
    });
    expect(c.actions).toBe(1 + 5 + 6 + 5 + 12 + 3);
    expect(mailsPerInput(events, productMails)).toEqual([0, 1, 1, 2, 1, 1]);
  });

  it('counts a history in stretches to the same total as whole', () => {
    const events = recorded('v2-approved-to-active.json');
    const cut = events.findIndex((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) + 1;
    expect(addCounts([countActions(events.slice(0, cut)), countActions(events.slice(cut))])).toEqual(
      countActions(events),
    );
  });
});

describe('countActions on made-up events', () => {
  it('counts each further attempt of an activity, signals, child workflows, and a mixed upsert', () => {
    const sa = (...names: string[]): Event => ({
      eventType: E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
      upsertWorkflowSearchAttributesEventAttributes: {
        searchAttributes: { indexedFields: Object.fromEntries(names.map((n) => [n, { data: new Uint8Array() }])) },
      },
    });
    const c = countActions([
      { eventType: E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED },
      { eventType: E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED },
      { eventType: E.EVENT_TYPE_ACTIVITY_TASK_STARTED, activityTaskStartedEventAttributes: { attempt: 3 } },
      { eventType: E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED },
      { eventType: E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED },
      { eventType: E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED },
      sa('TemporalChangeVersion'),
      sa('TemporalChangeVersion', 'AiStage'),
      { eventType: E.EVENT_TYPE_TIMER_CANCELED },
      { eventType: E.EVENT_TYPE_MARKER_RECORDED, markerRecordedEventAttributes: { markerName: 'core_patch' } },
    ]);
    expect(c).toMatchObject({
      starts: 1,
      activities: 1,
      activityRetries: 2,
      signals: 2,
      childWorkflows: 1,
      searchAttributeUpserts: 1,
      changeVersionUpserts: 1,
      timers: 0,
      localActivityTasks: 0,
    });
    expect(c.actions).toBe(1 + 1 + 2 + 2 + 1 + 1);
    expect(countActions([])).toMatchObject({ events: 0, actions: 0 });
  });
});
