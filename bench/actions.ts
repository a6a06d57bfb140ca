/**
 * What a workflow history costs: its events, its workflow tasks, and the Temporal Cloud actions it shows, counted by
 * the rules in Temporal's "Temporal Cloud Actions" page (summed up in /work/shared/reference/temporal.md, "Cost"):
 * - the start of each run (a continue-as-new starts the next run: count that run's history too);
 * - each signal received (and each one this workflow sent), each update accepted (a rejected update is an action too,
 *   but no history shows it);
 * - each timer started (a `condition` with a timeout starts one);
 * - each search-attribute upsert after the start, one however many attributes it sets, except one that only sets
 *   TemporalChangeVersion (what `patched()` writes), which is exempt;
 * - each activity attempt (the start and every retry), and the local activities of one workflow task as one;
 * - each child workflow started.
 * Not in any history, so not counted here: queries (every view that asks the workflow), rejected updates, activity
 * heartbeats that reach the server, schedule runs. Memo upserts are events but no action.
 *
 * Pure: events in, counts out, so a recorded history (test/histories/) checks it.
 */
import proto from '@temporalio/proto';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const E = proto.temporal.api.enums.v1.EventType;

const CHANGE_VERSION = 'TemporalChangeVersion';
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

export interface ActionCount {
  events: number;
  workflowTasks: number;
  /** The billable actions the events show: the sum of the counts below that are actions. */
  actions: number;
  starts: number;
  signals: number;
  updates: number;
  timers: number;
  searchAttributeUpserts: number;
  /** Activity starts: one per activity scheduled… */
  activities: number;
  /** …and one per further attempt. */
  activityRetries: number;
  /** Workflow tasks that ran at least one local activity (all of one task's count once). */
  localActivityTasks: number;
  childWorkflows: number;
  /** Events that are no action, for the record. */
  memoUpserts: number;
  changeVersionUpserts: number;
  localActivities: number;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/**
 * Counts the events of one history, or any stretch of one (say, everything after the system became active): a
 * stretch counts what happened in it, and an activity whose start and completion fall in it counts its attempts.
 */
export function countActions(events: readonly HistoryEvent[]): ActionCount {
  const c: ActionCount = {
    events: events.length,
    workflowTasks: 0,
    actions: 0,
    starts: 0,
    signals: 0,
    updates: 0,
    timers: 0,
    searchAttributeUpserts: 0,
    activities: 0,
    activityRetries: 0,
    localActivityTasks: 0,
    childWorkflows: 0,
    memoUpserts: 0,
    changeVersionUpserts: 0,
    localActivities: 0,
  };
  const localActivityTasks = new Set<number>();
  for (const e of events) {
    switch (e.eventType) {
      case E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        c.starts++;
        break;
      case E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        c.workflowTasks++;
        break;
      case E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
      case E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        c.signals++;
        break;
      case E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        c.updates++;
        break;
      case E.EVENT_TYPE_TIMER_STARTED:
        c.timers++;
        break;
      case E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        );
        if (fields.length > 0 && fields.every((f) => f === CHANGE_VERSION)) c.changeVersionUpserts++;
        else c.searchAttributeUpserts++;
        break;
      }
      case E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
        c.memoUpserts++;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        c.activities++;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        // Written once, when the activity ends, with the attempt that ended it: the earlier ones were retries.
        c.activityRetries += Math.max(0, num(e.activityTaskStartedEventAttributes?.attempt) - 1);
        break;
      case E.EVENT_TYPE_MARKER_RECORDED: {
        const m = e.markerRecordedEventAttributes;
        if (m?.markerName === LOCAL_ACTIVITY_MARKER) {
          c.localActivities++;
          localActivityTasks.add(num(m.workflowTaskCompletedEventId));
        }
        break;
      }
      case E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        c.childWorkflows++;
        break;
    }
  }
  c.localActivityTasks = localActivityTasks.size;
  c.actions =
    c.starts +
    c.signals +
    c.updates +
    c.timers +
    c.searchAttributeUpserts +
    c.activities +
    c.activityRetries +
    c.localActivityTasks +
    c.childWorkflows;
  return c;
}

/** Sums counts of several histories (the runs of one lifecycle, or one stretch of each). */
export function addCounts(counts: readonly ActionCount[]): ActionCount {
  const total = countActions([]);
  for (const c of counts) for (const k of Object.keys(total) as (keyof ActionCount)[]) total[k] += c[k];
  return total;
}

export interface Necessary {
  starts: number;
  humanInputs: number;
  emails: number;
  stageChanges: number;
}

/**
 * What a lifecycle cannot do with less (issue 12): its start, one action per human input, one per e-mail (an
 * activity that sends it) and one visibility upsert per change of the stage people see.
 */
export function necessaryActions(n: Necessary): number {
  return n.starts + n.humanInputs + n.emails + n.stageChanges;
}

/** An activity as its scheduling event names it. */
export interface ScheduledActivity {
  type: string;
  id: string;
}

/**
 * How many e-mails the workflow's activities sent before its first human input (index 0) and after each input
 * (index i after input i, until the next), an input being an accepted update or a received signal; `mailsOf` says
 * how many e-mails one scheduled activity sends. What the minimal workflow copies, so that its e-mails go out at the
 * same points of the lifecycle.
 */
export function mailsPerInput(events: readonly HistoryEvent[], mailsOf: (a: ScheduledActivity) => number): number[] {
  const mails = [0];
  for (const e of events) {
    if (
      e.eventType === E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED ||
      e.eventType === E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ) {
      mails.push(0);
    } else if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      const a = e.activityTaskScheduledEventAttributes;
      mails[mails.length - 1]! += mailsOf({ type: a?.activityType?.name ?? '', id: a?.activityId ?? '' });
    }
  }
  return mails;
}

/**
 * The product's e-mails by activity (payloads are encrypted, so the ids say it; workflows/lifecycle.ts): one per
 * deliverNotification, except a handoff (`handoff-N`) of an e-mail its step already counted; and the K of a step's
 * recordStep `step-N-mails-K` (or `steps-N-M-mails-K` for steps N to M), which sends the steps' e-mails itself.
 */
export function productMails(a: ScheduledActivity): number {
  if (a.type === 'deliverNotification') return a.id.startsWith('handoff-') ? 0 : 1;
  if (a.type === 'recordStep') return Number(/-mails-(\d+)$/.exec(a.id)?.[1] ?? 0);
  return 0;
}

/** The human inputs of a history in order: accepted updates and received signals. */
export function inputKinds(events: readonly HistoryEvent[]): ('update' | 'signal')[] {
  const kinds: ('update' | 'signal')[] = [];
  for (const e of events) {
    if (e.eventType === E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) kinds.push('update');
    else if (e.eventType === E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) kinds.push('signal');
  }
  return kinds;
}
