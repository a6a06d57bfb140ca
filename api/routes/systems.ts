import type { WorkflowHandle } from '@temporalio/client';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type UpdateDefinition,
} from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { impactAssessmentSchema } from '../../domain/assessment.js';
import { biasEvidenceSchema } from '../../domain/evidence.js';
import {
  assessmentSubmission,
  evidenceSubmission,
  planSubmission,
  reviewEvidenceFacts,
  type ReviewSubmission,
} from '../../domain/submissions.js';
import {
  decisionKindSchema,
  isFinal,
  returnStages,
  type LifecycleInput,
  type LifecycleState,
  type Stage,
} from '../../domain/lifecycle.js';
import {
  authorityNotificationSchema,
  incidentClosureSchema,
  incidentSchema,
  newVersionSchema,
  retirementSchema,
  reviewSchema,
} from '../../domain/operations.js';
import { SA } from '../../domain/search-attributes.js';
import { decisionBreach, pendingApproverBreach, registrationBreach, type DutyBreach } from '../../domain/duties.js';
import { stepReference } from '../../domain/control-mapping.js';
import { storable } from '../../domain/storable.js';
import { signDecisionProof } from '../../links/decision-proofs.js';
import { registrationSchema, systemIdSchema, workflowIdFor, type Registration } from '../../domain/system.js';
import { treatmentPlanSchema } from '../../domain/treatment.js';
import { aiSystemLifecycle } from '../../workflows/lifecycle.js';
import {
  closeIncidentUpdate,
  decideUpdate,
  newModelVersionUpdate,
  recordAuthorityNotificationUpdate,
  reportIncidentUpdate,
  retireUpdate,
  submitBiasEvidenceUpdate,
  submitImpactAssessmentUpdate,
  submitReviewUpdate,
  submitTreatmentPlanUpdate,
} from '../../workflows/messages.js';
import { bindActors } from '../auth/actors.js';
import { principalOf } from '../auth/plugin.js';
import { roleSchema, teamSchema, type Role } from '../auth/principal.js';
import { putSystemAccess } from '../../store/access.js';
import type { ApiContext } from '../context.js';
import { ApiError, apiErrorBodySchema, fromWorkflowError, notFound } from '../errors.js';
import { queryState, sendToLifecycle } from '../lifecycle-state.js';
import { resendFailedNotification, resendRequestSchema } from '../outbox.js';

const errorBody = apiErrorBodySchema;
const errorResponses = { 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody };

/** Who does a system's work: its team, and the governance lead and admins for every team. Auditors only read. */
const WORKERS: readonly Role[] = ['ai-team', 'governance-lead', 'admin'];
/** Incidents and retirement are also the risk owner's to raise. */
const RESPONDERS: readonly Role[] = [...WORKERS, 'risk-owner'];

const registrationBody = registrationSchema.and(z.object({ team: teamSchema.optional() }));

/** The team a registration belongs to: an ai-team caller's own, or the one an admin or governance lead names. */
function teamFor(caller: { role: Role; team: string | null }, named: string | undefined): string {
  const refuse = (message: string) => {
    const issue = { path: 'body.team', message };
    throw new ApiError(422, { error: 'validation_failed', message: `${issue.path}: ${message}`, issues: [issue] });
  };
  if (caller.role === 'ai-team') {
    if (named !== undefined && named !== caller.team)
      return refuse(`must be your own team (${caller.team}) or left out`);
    return caller.team!;
  }
  return named ?? refuse(`is required when the ${caller.role} role registers a system`);
}
/** What the workflow answered; documented per message in the workflow's update definitions. */
const resultBody = z.record(z.string(), z.unknown());

const idParams = z.object({ id: systemIdSchema });

/** An approver's decision through the API: who decides comes from the credential, never from the body. */
const apiDecisionSchema = storable(
  z.strictObject({
    decision: decisionKindSchema,
    comment: z.string().trim().max(4000).default(''),
    returnTo: z.enum(returnStages).optional(),
  }),
);

/** A registration whose people would mix duties is refused before anything is written, naming the rule. */
function refuseDutyBreach(breach: DutyBreach | null): void {
  if (!breach) return;
  throw new ApiError(422, {
    error: 'segregation_of_duties',
    rule: breach.rule,
    message: `${breach.message} (rule ${breach.rule}, ${stepReference('segregation_of_duties')})`,
  });
}

/** The public view of a lifecycle, from the workflow's own state. */
export function systemView(state: LifecycleState, now = new Date()) {
  const overdue =
    state.stage === 'review_due' && state.reviewDueAt !== null && Date.parse(state.reviewDueAt) < now.getTime();
  return {
    id: state.systemId,
    name: state.registration.name,
    stage: state.stage,
    overdue,
    riskTier: state.riskTier,
    policyVersion: state.policyVersion,
    cycle: state.cycle,
    owner: state.registration.owner,
    riskOwner: state.registration.riskOwner,
    model: { ...state.registration.model, version: state.modelVersion },
    approvedAt: state.approvedAt,
    approvedDigest: state.approvedDigest,
    // A retired system has no review ahead of it, whatever date its last cycle set.
    reviewDueAt: state.stage === 'retired' ? null : state.reviewDueAt,
    lastReviewCompletedAt: state.lastReviewCompletedAt,
    pendingApproval: state.approval && {
      requestId: state.approval.requestId,
      approver: state.approval.approver,
      role: state.approval.role,
      kind: state.approval.kind,
      step: state.approval.step,
      of: state.approval.chain.length,
      delegatedFrom: state.approval.delegatedFrom,
      digest: state.approval.digest,
      requestedAt: state.approval.requestedAt,
      expiresAt: state.approval.expiresAt,
      remindersSent: state.approval.remindersSent,
      escalatedAt: state.approval.escalatedAt,
    },
    assessment: state.assessment && {
      version: state.assessment.version,
      submittedAt: state.assessment.submittedAt,
      submittedBy: state.assessment.submittedBy,
      riskTier: state.assessment.riskTier,
      score: state.assessment.score,
      digest: state.assessment.digest,
      euAiActCategory: state.assessment.euAiActCategory,
      euAiAct: state.assessment.euAiAct ?? { category: state.assessment.euAiActCategory },
      impacts: state.assessment.impacts,
    },
    evidence: state.evidence && {
      version: state.evidence.version,
      effectiveDate: state.evidence.effectiveDate,
      submittedAt: state.evidence.submittedAt,
      modelVersion: state.evidence.modelVersion,
      digest: state.evidence.digest,
      policyVersion: state.evidence.policyVersion,
      failed: state.evidence.failed,
      verdicts: state.evidence.verdicts,
    },
    treatmentPlan: state.plan && {
      version: state.plan.version,
      submittedAt: state.plan.submittedAt,
      residualScore: state.plan.residualScore,
      requiresRiskAcceptance: state.plan.requiresRiskAcceptance,
      current: state.plan.current,
      digest: state.plan.digest,
      items: state.plan.items,
    },
    fria: state.fria,
    incidents: state.incidents,
    decisions: state.decisions,
    transitions: state.transitions,
    retiredAt: state.retiredAt,
    auditHead: state.auditHead,
  };
}

/** Documents up to the schemas' limits (a full assessment runs to megabytes) must reach their 422 or their store. */
const DOCUMENT_BODY_LIMIT = 16 * 1024 * 1024;

export const systemRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    /** The record store keeps the document by digest before the workflow hears of it. */
    const storeDocument = async (kind: string, content: unknown) =>
      (await ctx.store.putDocuments([{ kind, content }]))[0]!;

    const handleFor = (id: string) => ctx.client.workflow.getHandle(workflowIdFor(id));

    /** How a lifecycle starts, for a first registration and a restart alike. */
    const lifecycleStart = (registration: Registration, registeredBy: string) => ({
      taskQueue: ctx.taskQueue,
      workflowId: workflowIdFor(registration.id),
      args: [{ v: 2, registration, policy: ctx.policy, governanceLead: ctx.governanceLead, registeredBy }] satisfies [
        LifecycleInput,
      ],
      // Listed with its name from the first moment; the workflow keeps the memo current from then on.
      // No e-mail address in the memo or a search attribute: views find people in the record store.
      memo: { name: registration.name, modelVersion: registration.model.version },
      typedSearchAttributes: [
        { key: SA.systemId, value: registration.id },
        { key: SA.stage, value: 'impact_assessment' },
        { key: SA.riskTier, value: 'unassessed' },
        { key: SA.owner, value: ctx.personKeys.key(registration.owner) },
      ],
    });

    const send = <R, Args extends [unknown, ...unknown[]]>(id: string, def: UpdateDefinition<R, Args>, args: Args) =>
      sendToLifecycle(ctx, id, def, args);

    /** One route per lifecycle message: body validated by its zod schema, then sent as a workflow update. */
    function updateRoute<S extends z.ZodType, M, R>(opts: {
      method: 'PUT' | 'POST';
      path: string;
      summary: string;
      body: S;
      update: UpdateDefinition<R, [M]>;
      /** What the workflow receives: the parsed body, or its digest and facts once the document is stored. */
      message: (body: z.output<S>) => M | Promise<M>;
      status?: 200 | 201 | 202;
      bodyLimit?: number;
      /** Who may send it (besides seeing the system). */
      roles: readonly Role[];
      /** The body's actor fields, filled from the credential (api/auth/actors.ts). */
      actors: string[][];
    }): void {
      app.route({
        method: opts.method,
        url: `/api/v1/systems/:id${opts.path}`,
        bodyLimit: opts.bodyLimit,
        config: { access: { roles: opts.roles, system: true } },
        preValidation: bindActors(opts.actors),
        schema: {
          summary: opts.summary,
          tags: ['lifecycle'],
          params: idParams,
          body: opts.body,
          response: { [opts.status ?? 200]: resultBody, ...errorResponses },
        },
        handler: async (req, reply) => {
          const { id } = req.params as z.infer<typeof idParams>;
          // The credential's id travels beside the message; the workflow records it with the actor's e-mail.
          const message = { ...(await opts.message(req.body as z.output<S>)), principal: principalOf(req).id } as M;
          const result = await send(id, opts.update, [message]);
          return reply.code(opts.status ?? 200).send({ id, ...(result as object) } as never);
        },
      });
    }

    app.post(
      '/api/v1/systems',
      {
        schema: {
          summary: 'Register an AI system and start its lifecycle',
          tags: ['systems'],
          description:
            'An ai-team caller registers for its own team (`team` may be left out); an admin or governance lead names the team.',
          body: registrationBody,
          response: {
            201: z.object({
              id: z.string(),
              workflowId: z.string(),
              stage: z.string(),
              url: z.string(),
              team: z.string(),
            }),
            401: errorBody,
            403: errorBody,
            409: errorBody,
            422: errorBody,
          },
        },
        config: { access: { roles: ['ai-team', 'governance-lead', 'admin'] } },
      },
      async (req, reply) => {
        const { team: named, ...registration } = req.body;
        refuseDutyBreach(registrationBreach(registration, ctx.governanceLead, ctx.policy));
        const caller = principalOf(req);
        const team = teamFor(caller, named);
        const workflowId = workflowIdFor(registration.id);
        // Written before the workflow starts, so every later request can be checked at once; a duplicate keeps the first.
        const access = await putSystemAccess(ctx.store.db, {
          systemId: registration.id,
          team,
          owner: registration.owner,
          riskOwner: registration.riskOwner,
          registeredBy: caller.id,
        });
        if (access.team !== team) {
          throw new ApiError(409, {
            error: 'already_registered',
            message: `an AI system with id ${registration.id} is already registered`,
          });
        }
        try {
          await ctx.client.workflow.start(aiSystemLifecycle, {
            ...lifecycleStart(registration, caller.id),
            // Never a second lifecycle for the same system, even after the first has ended.
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          });
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) {
            throw new ApiError(409, {
              error: 'already_registered',
              message: `an AI system with id ${registration.id} is already registered`,
            });
          }
          throw err;
        }
        return reply.code(201).send({
          id: registration.id,
          workflowId,
          team,
          stage: 'impact_assessment',
          url: `${ctx.publicBaseUrl}/api/v1/systems/${registration.id}`,
        });
      },
    );

    /**
     * A lifecycle whose workflow was terminated (say, from the Temporal UI),
     * failed or timed out starts again from its registration in the record
     * store. Its records stay: the new run appends to the same hash chain.
     * A running lifecycle, or one that ended by design (completed: retired,
     * rejected), is not restarted.
     */
    app.post(
      '/api/v1/systems/:id/re-register',
      {
        schema: {
          summary: 'Restart the lifecycle of a system whose workflow was terminated, failed or timed out (admin)',
          tags: ['systems'],
          description:
            'Starts a new run from the registration in the record store; every record stays and the audit chain continues. A running or completed lifecycle answers 409.',
          params: idParams,
          response: {
            201: z.object({
              id: z.string(),
              workflowId: z.string(),
              runId: z.string(),
              stage: z.string(),
              previous: z.object({ runId: z.string().nullable(), status: z.string() }),
            }),
            ...errorResponses,
          },
        },
        config: { access: { roles: ['admin'] } },
      },
      async (req, reply) => {
        const { id } = req.params;
        const caller = principalOf(req);
        const record = await ctx.store.getSystem(id);
        if (!record) throw notFound(id);
        const registration = registrationSchema.safeParse(record.registration);
        if (!registration.success || registration.data.id !== id) {
          throw new ApiError(409, {
            error: 'registration_unreadable',
            message: `the registration of ${id} in the record store no longer passes today's schema: register it anew`,
          });
        }
        if (isFinal(record.stage as Stage)) {
          throw new ApiError(409, {
            error: 'lifecycle_ended',
            message: `the lifecycle of ${id} ended by design (${record.stage}); it is not restarted`,
            stage: record.stage,
          });
        }
        refuseDutyBreach(registrationBreach(registration.data, ctx.governanceLead, ctx.policy));
        const workflowId = workflowIdFor(id);
        const previous = await ctx.client.workflow
          .getHandle(workflowId)
          .describe()
          .then(
            (d) => ({ runId: d.runId as string | null, status: d.status.name as string }),
            (err: unknown) => {
              // Purged by the namespace's retention: nothing runs, the store still holds the lifecycle.
              if (err instanceof WorkflowNotFoundError) return { runId: null, status: 'NOT_FOUND' };
              throw err;
            },
          );
        let runId: string;
        try {
          ({ firstExecutionRunId: runId } = await ctx.client.workflow.start(aiSystemLifecycle, {
            ...lifecycleStart(registration.data, principalOf(req).id),
            // Temporal itself refuses while a run is open or after one completed: no race gives two lifecycles.
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          }));
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) {
            throw new ApiError(409, {
              error: previous.status === 'RUNNING' ? 'lifecycle_running' : 'lifecycle_ended',
              message: `the lifecycle of ${id} is ${previous.status.toLowerCase().replaceAll('_', ' ')}: only a terminated, failed or timed-out one is started again`,
              stage: record.stage,
            });
          }
          throw err;
        }
        await ctx.store.recordEvent({
          idempotencyKey: `${workflowId}/re-registered/${runId}`,
          systemId: id,
          type: 'lifecycle_re_registered',
          actor: caller.email,
          at: new Date(),
          payload: { by: caller.id, previousRunId: previous.runId, previousStatus: previous.status, runId: runId },
        });
        return reply.code(201).send({
          id,
          workflowId,
          runId: runId,
          stage: 'impact_assessment',
          previous,
        });
      },
    );

    /**
     * An approver decides with their own credential instead of the e-mailed
     * link: the same update, the same rules, with the principal as the proof.
     * Only the person the open request waits for may decide it.
     */
    app.post(
      '/api/v1/systems/:id/approvals/decision',
      {
        schema: {
          summary: 'Decide the open approval request as the authenticated approver it waits for',
          tags: ['lifecycle'],
          description:
            "The caller must be the pending approver (403 not_the_pending_approver otherwise); the segregation-of-duties rules apply as they do to links (403 segregation_of_duties naming the rule). decidedBy is the credential's e-mail, via is api.",
          params: idParams,
          body: apiDecisionSchema,
          response: { 200: resultBody, ...errorResponses },
        },
        config: {
          access: { roles: ['risk-owner', 'governance-lead', 'ai-team', 'admin'], system: true },
        },
      },
      async (req) => {
        const { id } = req.params;
        const caller = principalOf(req);
        const state = await queryState(ctx, id);
        const notPending = pendingApproverBreach(state, caller.email);
        if (notPending)
          throw new ApiError(403, { error: 'forbidden', rule: notPending.rule, message: notPending.message });
        const breach = decisionBreach(state, caller.email);
        if (breach)
          throw new ApiError(403, { error: 'segregation_of_duties', rule: breach.rule, message: breach.message });
        const { decision, comment, returnTo } = req.body;
        const requestId = state.approval!.requestId;
        const decided = {
          requestId,
          decision,
          comment,
          ...(returnTo ? { returnTo } : {}),
          decidedBy: caller.email,
          via: 'api' as const,
        };
        // The authenticated principal is the proof, signed for exactly this decision.
        const proof = signDecisionProof(
          ctx.decisionSigningKey,
          { message: 'decideApproval', systemId: id, payload: decided },
          { via: 'api', credential: caller.id },
        );
        // One decision per request and credential: a retried call is the same update.
        const result = await sendToLifecycle(ctx, id, decideUpdate, [decided, proof], {
          updateId: `decide-api-${requestId}-${caller.id}`,
        });
        return { id, ...result };
      },
    );

    app.get(
      '/api/v1/systems/:id',
      {
        schema: {
          summary: "A system's stage, risk tier, evidence, plan, due dates and decision history",
          tags: ['systems'],
          params: idParams,
          response: { 200: resultBody, 401: errorBody, 404: errorBody },
        },
        config: { access: { roles: roleSchema.options, system: true } },
      },
      async (req) => systemView(await queryState(ctx, req.params.id)),
    );

    updateRoute({
      method: 'PUT',
      path: '/impact-assessment',
      roles: WORKERS,
      actors: [['submittedBy']],
      summary: 'Submit the impact assessment (ISO/IEC 42005, EU AI Act Art. 27) of a system awaiting one',
      body: impactAssessmentSchema,
      update: submitImpactAssessmentUpdate,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async (a) => assessmentSubmission(a, await storeDocument('assessment', a)),
    });
    updateRoute({
      method: 'PUT',
      path: '/bias-evidence',
      roles: WORKERS,
      actors: [['submittedBy']],
      summary: 'Submit bias-testing metrics, judged against the policy thresholds',
      body: biasEvidenceSchema,
      update: submitBiasEvidenceUpdate,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async (e) => evidenceSubmission(e, await storeDocument('evidence', e)),
    });
    updateRoute({
      method: 'PUT',
      path: '/treatment-plan',
      roles: WORKERS,
      actors: [['submittedBy']],
      summary: 'Submit the risk-treatment plan; it goes to the approval chain',
      body: treatmentPlanSchema,
      update: submitTreatmentPlanUpdate,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async (p) => planSubmission(p, await storeDocument('plan', p)),
    });
    updateRoute({
      method: 'POST',
      path: '/fria-notification',
      roles: WORKERS,
      actors: [['notifiedBy']],
      summary: 'Record that the market surveillance authority was notified of the FRIA (EU AI Act Art. 27(3))',
      body: authorityNotificationSchema,
      update: recordAuthorityNotificationUpdate,
      message: (n) => n,
    });
    updateRoute({
      method: 'POST',
      path: '/reviews',
      roles: WORKERS,
      actors: [['performedBy']],
      summary: `Submit a periodic review (${stepReference('review')}) for sign-off`,
      body: reviewSchema,
      update: submitReviewUpdate,
      status: 202,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async ({ biasEvidence, ...review }): Promise<ReviewSubmission> => ({
        ...review,
        ...(biasEvidence
          ? { biasEvidence: reviewEvidenceFacts(biasEvidence, await storeDocument('evidence', biasEvidence)) }
          : {}),
      }),
    });
    updateRoute({
      method: 'POST',
      path: '/versions',
      roles: WORKERS,
      actors: [['submittedBy']],
      summary: 'Announce a new model version: bias testing and approval run again',
      body: newVersionSchema,
      update: newModelVersionUpdate,
      status: 202,
      message: (v) => v,
    });
    updateRoute({
      method: 'POST',
      path: '/incidents',
      roles: RESPONDERS,
      actors: [['reportedBy']],
      summary: 'Report an incident; a serious one triggers an immediate review',
      body: incidentSchema,
      update: reportIncidentUpdate,
      status: 201,
      message: (i) => i,
    });
    updateRoute({
      method: 'POST',
      path: '/retire',
      roles: RESPONDERS,
      actors: [['retiredBy']],
      summary: 'Retire the system: a final record, then the lifecycle ends',
      body: retirementSchema,
      update: retireUpdate,
      message: (r) => r,
    });

    app.post(
      '/api/v1/systems/:id/notifications/resend',
      {
        schema: {
          summary: 'Send a failed e-mail again (a new outbox entry; the failed one stays on record)',
          tags: ['lifecycle'],
          params: idParams,
          body: resendRequestSchema,
          response: { 202: resultBody, ...errorResponses },
        },
        config: { access: { roles: WORKERS, system: true } },
        preValidation: bindActors([['requestedBy']]),
      },
      async (req, reply) => {
        const { id } = req.params;
        const result = await resendFailedNotification(ctx, id, req.body);
        return reply.code(202).send({ id, ...result });
      },
    );

    app.post(
      '/api/v1/systems/:id/incidents/:incidentId/close',
      {
        schema: {
          summary: "Close an incident's corrective action",
          tags: ['lifecycle'],
          params: z.object({
            id: systemIdSchema,
            incidentId: z.string().regex(/^inc-\d+$/, 'must be an incident id like inc-1'),
          }),
          body: incidentClosureSchema,
          response: { 200: resultBody, ...errorResponses },
        },
        config: { access: { roles: RESPONDERS, system: true } },
        preValidation: bindActors([['closedBy']]),
      },
      async (req) => ({
        id: req.params.id,
        ...(await send(req.params.id, closeIncidentUpdate, [
          req.params.incidentId,
          { ...req.body, principal: principalOf(req).id },
        ] as unknown as [string, typeof req.body])),
      }),
    );
  };
