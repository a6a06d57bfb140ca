import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { impactAssessmentSchema } from '../../domain/assessment.js';
import type { LifecycleState } from '../../domain/lifecycle.js';
import { SA } from '../../domain/search-attributes.js';
import { personKey, registrationSchema, systemIdSchema, workflowIdFor } from '../../domain/system.js';
import { stateQuery, submitImpactAssessmentUpdate } from '../../workflows/messages.js';
import { aiSystemLifecycle } from '../../workflows/lifecycle.js';
import type { ApiContext } from '../context.js';
import { ApiError, fromWorkflowError, notFound } from '../errors.js';

const errorBody = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  stage: z.string().optional(),
});

const idParams = z.object({ id: systemIdSchema });

/** The public view of a lifecycle: what an AI team or a dashboard needs, from the workflow's own state. */
export function systemView(state: LifecycleState) {
  return {
    id: state.systemId,
    name: state.registration.name,
    stage: state.stage,
    riskTier: state.riskTier,
    policyVersion: state.policyVersion,
    owner: state.registration.owner,
    riskOwner: state.registration.riskOwner,
    model: state.registration.model,
    approvedAt: state.approvedAt,
    reviewDueAt: state.reviewDueAt,
    pendingApproval: state.approval && {
      requestId: state.approval.requestId,
      approver: state.approval.approver,
      step: state.approval.step,
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
      impacts: state.assessment.content.impacts.length,
    },
    decisions: state.decisions,
    transitions: state.transitions,
  };
}

export const systemRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
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
            args: [{ registration, policy: ctx.policy, governanceLead: ctx.governanceLead }],
            typedSearchAttributes: [
              { key: SA.systemId, value: registration.id },
              { key: SA.stage, value: 'impact_assessment' },
              { key: SA.riskTier, value: 'unassessed' },
              { key: SA.owner, value: personKey(registration.owner) },
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

    app.put(
      '/api/v1/systems/:id/impact-assessment',
      {
        schema: {
          summary: 'Submit the impact assessment (ISO/IEC 42005) of a system awaiting one',
          tags: ['systems'],
          params: idParams,
          body: impactAssessmentSchema,
          response: {
            200: z.object({
              id: z.string(),
              version: z.number(),
              riskTier: z.string(),
              score: z.number(),
              stage: z.string(),
            }),
            404: errorBody,
            409: errorBody,
            422: errorBody,
          },
        },
      },
      async (req) => {
        const handle = ctx.client.workflow.getHandle(workflowIdFor(req.params.id));
        try {
          const result = await handle.executeUpdate(submitImpactAssessmentUpdate, { args: [req.body] });
          return { id: req.params.id, ...result, stage: 'approval' };
        } catch (err) {
          throw fromWorkflowError(err, req.params.id) ?? err;
        }
      },
    );

    app.get(
      '/api/v1/systems/:id',
      {
        schema: {
          summary: "A system's stage, risk tier, due dates and decision history",
          tags: ['systems'],
          params: idParams,
        },
      },
      async (req) => {
        const handle = ctx.client.workflow.getHandle(workflowIdFor(req.params.id));
        try {
          return systemView(await handle.query(stateQuery));
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw notFound(req.params.id);
          throw err;
        }
      },
    );
  };
