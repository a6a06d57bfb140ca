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
import type { LifecycleState } from '../../domain/lifecycle.js';
import {
  authorityNotificationSchema,
  incidentClosureSchema,
  incidentSchema,
  newVersionSchema,
  retirementSchema,
  reviewSchema,
} from '../../domain/operations.js';
import { SA } from '../../domain/search-attributes.js';
import { registrationSchema, systemIdSchema, workflowIdFor } from '../../domain/system.js';
import { treatmentPlanSchema } from '../../domain/treatment.js';
import { aiSystemLifecycle } from '../../workflows/lifecycle.js';
import {
  closeIncidentUpdate,
  newModelVersionUpdate,
  recordAuthorityNotificationUpdate,
  reportIncidentUpdate,
  retireUpdate,
  submitBiasEvidenceUpdate,
  submitImpactAssessmentUpdate,
  submitReviewUpdate,
  submitTreatmentPlanUpdate,
} from '../../workflows/messages.js';
import type { ApiContext } from '../context.js';
import { ApiError, apiErrorBodySchema, fromWorkflowError, notFound } from '../errors.js';
import { queryState, sendToLifecycle } from '../lifecycle-state.js';
import { resendFailedNotification, resendRequestSchema } from '../outbox.js';

const errorBody = apiErrorBodySchema;
const errorResponses = { 404: errorBody, 409: errorBody, 422: errorBody };
/** What the workflow answered; documented per message in the workflow's update definitions. */
const resultBody = z.record(z.string(), z.unknown());

const idParams = z.object({ id: systemIdSchema });

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
    reviewDueAt: state.reviewDueAt,
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
    }): void {
      app.route({
        method: opts.method,
        url: `/api/v1/systems/:id${opts.path}`,
        bodyLimit: opts.bodyLimit,
        schema: {
          summary: opts.summary,
          tags: ['lifecycle'],
          params: idParams,
          body: opts.body,
          response: { [opts.status ?? 200]: resultBody, ...errorResponses },
        },
        handler: async (req, reply) => {
          const { id } = req.params as z.infer<typeof idParams>;
          const result = await send(id, opts.update, [await opts.message(req.body as z.output<S>)]);
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
          body: registrationSchema,
          response: {
            201: z.object({ id: z.string(), workflowId: z.string(), stage: z.string(), url: z.string() }),
            409: errorBody,
            422: errorBody,
          },
        },
      },
      async (req, reply) => {
        const registration = req.body;
        const workflowId = workflowIdFor(registration.id);
        try {
          await ctx.client.workflow.start(aiSystemLifecycle, {
            taskQueue: ctx.taskQueue,
            workflowId,
            // Never a second lifecycle for the same system, even after the first has ended.
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
            args: [{ v: 2, registration, policy: ctx.policy, governanceLead: ctx.governanceLead }],
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
          stage: 'impact_assessment',
          url: `${ctx.publicBaseUrl}/api/v1/systems/${registration.id}`,
        });
      },
    );

    app.get(
      '/api/v1/systems/:id',
      {
        schema: {
          summary: "A system's stage, risk tier, evidence, plan, due dates and decision history",
          tags: ['systems'],
          params: idParams,
          response: { 200: resultBody, 404: errorBody },
        },
      },
      async (req) => systemView(await queryState(ctx, req.params.id)),
    );

    updateRoute({
      method: 'PUT',
      path: '/impact-assessment',
      summary: 'Submit the impact assessment (ISO/IEC 42005, EU AI Act Art. 27) of a system awaiting one',
      body: impactAssessmentSchema,
      update: submitImpactAssessmentUpdate,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async (a) => assessmentSubmission(a, await storeDocument('assessment', a)),
    });
    updateRoute({
      method: 'PUT',
      path: '/bias-evidence',
      summary: 'Submit bias-testing metrics, judged against the policy thresholds',
      body: biasEvidenceSchema,
      update: submitBiasEvidenceUpdate,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async (e) => evidenceSubmission(e, await storeDocument('evidence', e)),
    });
    updateRoute({
      method: 'PUT',
      path: '/treatment-plan',
      summary: 'Submit the risk-treatment plan; it goes to the approval chain',
      body: treatmentPlanSchema,
      update: submitTreatmentPlanUpdate,
      bodyLimit: DOCUMENT_BODY_LIMIT,
      message: async (p) => planSubmission(p, await storeDocument('plan', p)),
    });
    updateRoute({
      method: 'POST',
      path: '/fria-notification',
      summary: 'Record that the market surveillance authority was notified of the FRIA (EU AI Act Art. 27(3))',
      body: authorityNotificationSchema,
      update: recordAuthorityNotificationUpdate,
      message: (n) => n,
    });
    updateRoute({
      method: 'POST',
      path: '/reviews',
      summary: 'Submit a periodic review (ISO/IEC 42001 clause 9) for sign-off',
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
      summary: 'Announce a new model version: bias testing and approval run again',
      body: newVersionSchema,
      update: newModelVersionUpdate,
      status: 202,
      message: (v) => v,
    });
    updateRoute({
      method: 'POST',
      path: '/incidents',
      summary: 'Report an incident; a serious one triggers an immediate review',
      body: incidentSchema,
      update: reportIncidentUpdate,
      status: 201,
      message: (i) => i,
    });
    updateRoute({
      method: 'POST',
      path: '/retire',
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
      },
      async (req) => ({
        id: req.params.id,
        ...(await send(req.params.id, closeIncidentUpdate, [req.params.incidentId, req.body] as [
          string,
          typeof req.body,
        ])),
      }),
    );
  };
