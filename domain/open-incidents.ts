import { z } from 'zod';

const DAY_MS = 86_400_000;

/** The audit events an incident's corrective action leaves, in the order a system's trail holds them. */
export const correctiveActionEventTypes = [
  'incident_reported',
  'corrective_action_reminder_sent',
  'corrective_action_overdue',
  'corrective_action_closed',
] as const;

/** An open incident and its corrective action, as the governance list and the dashboard show it. */
export const openIncidentSchema = z.object({
  systemId: z.string(),
  systemName: z.string(),
  stage: z.string(),
  incidentId: z.string(),
  severity: z.string(),
  description: z.string(),
  reportedAt: z.string(),
  reportedBy: z.string().nullable(),
  correctiveAction: z.string(),
  correctiveActionOwner: z.string(),
  correctiveActionDueAt: z.string(),
  /** Past its due date: by the caller's clock, or by the workflow's, which sent an overdue notice. */
  overdue: z.boolean(),
  /** Whole days past the due date (0 on the day it fell due, and while not yet due). */
  daysOverdue: z.number().int(),
  /** When the owner was reminded before the due date; null when no reminder went out (yet). */
  reminderSentAt: z.string().nullable(),
  /** Overdue notices so far (the last one's escalation number), and when the last went out. */
  escalationsSent: z.number().int(),
  lastEscalatedAt: z.string().nullable(),
});
export type OpenIncident = z.infer<typeof openIncidentSchema>;

export interface IncidentEvent {
  systemId: string;
  type: string;
  at: Date;
  payload: unknown;
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * The incidents whose corrective action is still open, from the audit
 * trail: reported and not closed, with the reminder and overdue notices the
 * workflow recorded. Overdue first, the longest overdue first; then by due
 * date. `systems` names each system and its stage; events of a system not in
 * it are left out.
 */
export function openIncidentsFrom(
  events: readonly IncidentEvent[],
  systems: ReadonlyMap<string, { name: string; stage: string }>,
  now: Date,
): OpenIncident[] {
  const open = new Map<string, OpenIncident>();
  const keyOf = (systemId: string, incidentId: string) => `${systemId}\u0000${incidentId}`;
  for (const ev of events) {
    const system = systems.get(ev.systemId);
    if (!system) continue;
    const p = (ev.payload ?? {}) as Record<string, unknown>;
    const incidentId = text(ev.type === 'incident_reported' ? p.id : p.incidentId);
    if (!incidentId) continue;
    const key = keyOf(ev.systemId, incidentId);
    const at = ev.at.toISOString();
    switch (ev.type) {
      case 'incident_reported': {
        const dueAt = text(p.correctiveActionDueAt);
        if (!dueAt) break;
        open.set(key, {
          systemId: ev.systemId,
          systemName: system.name,
          stage: system.stage,
          incidentId,
          severity: text(p.severity) ?? 'unknown',
          description: text(p.description) ?? '',
          reportedAt: text(p.reportedAt) ?? at,
          reportedBy: text(p.reportedBy),
          correctiveAction: text(p.correctiveAction) ?? '',
          correctiveActionOwner: text(p.correctiveActionOwner) ?? '',
          correctiveActionDueAt: dueAt,
          overdue: false,
          daysOverdue: 0,
          reminderSentAt: null,
          escalationsSent: 0,
          lastEscalatedAt: null,
        });
        break;
      }
      case 'corrective_action_reminder_sent': {
        const i = open.get(key);
        if (i) i.reminderSentAt = at;
        break;
      }
      case 'corrective_action_overdue': {
        const i = open.get(key);
        if (!i) break;
        i.escalationsSent = typeof p.escalation === 'number' ? p.escalation : i.escalationsSent + 1;
        i.lastEscalatedAt = at;
        break;
      }
      case 'corrective_action_closed':
        open.delete(key);
        break;
    }
  }
  const list = [...open.values()];
  for (const i of list) {
    const due = Date.parse(i.correctiveActionDueAt);
    // The workflow's clock can run ahead of the caller's (a time-skipping test server, a skewed host): its overdue
    // notice counts as much as the caller's clock does.
    const asOf = Math.max(now.getTime(), i.lastEscalatedAt ? Date.parse(i.lastEscalatedAt) : -Infinity);
    i.overdue = i.escalationsSent > 0 || asOf >= due;
    i.daysOverdue = i.overdue ? Math.max(0, Math.floor((asOf - due) / DAY_MS)) : 0;
  }
  return list.sort(
    (a, b) =>
      Number(b.overdue) - Number(a.overdue) ||
      Date.parse(a.correctiveActionDueAt) - Date.parse(b.correctiveActionDueAt) ||
      a.systemId.localeCompare(b.systemId) ||
      a.incidentId.localeCompare(b.incidentId, undefined, { numeric: true }),
  );
}
