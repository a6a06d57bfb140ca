import type { Stage } from './lifecycle.js';

/**
 * The lifecycle as the standard's process: every way a system moves from one
 * stage to the next, and why. The machine checks each transition it makes
 * against this table, so a rule that would move a system in a way the
 * process does not know is a code defect that stops at once (a retrying
 * workflow task), never a silent jump.
 */
export interface Step {
  on: string;
  from: readonly (Stage | null)[];
  to: Stage;
}

const working = ['impact_assessment', 'bias_testing', 'risk_treatment'] as const;
const live = ['approval', 'fria_notification', 'active', 'review_due'] as const;
const open = [...working, ...live] as const;

export const processSteps: readonly Step[] = [
  // ISO/IEC 42001 A.5 / ISO/IEC 42005: every system starts with an impact assessment.
  { on: 'registration', from: [null], to: 'impact_assessment' },
  { on: 'impact assessment that needs bias testing', from: ['impact_assessment'], to: 'bias_testing' },
  { on: 'impact assessment without bias testing', from: ['impact_assessment'], to: 'risk_treatment' },
  { on: 'prohibited practice (EU AI Act Art. 5)', from: ['impact_assessment'], to: 'rejected' },
  // A.6.2.4: verification by bias testing, then ISO/IEC 42001 6.1.3 risk treatment.
  { on: 'bias-testing evidence', from: ['bias_testing'], to: 'risk_treatment' },
  { on: 'evidence the current plan already answers', from: ['bias_testing', 'risk_treatment'], to: 'approval' },
  { on: 'risk-treatment plan', from: ['risk_treatment'], to: 'approval' },
  // 6.1.3(f): the accountable owners approve the plan and accept the residual risk.
  {
    on: 'approval chain complete, FRIA notice pending (EU AI Act Art. 27(3))',
    from: ['approval'],
    to: 'fria_notification',
  },
  { on: 'approval chain complete', from: ['approval'], to: 'active' },
  { on: 'authority notified', from: ['fria_notification'], to: 'active' },
  { on: 'rejected or changes requested', from: ['approval'], to: 'impact_assessment' },
  { on: 'changes requested', from: ['approval'], to: 'bias_testing' },
  { on: 'changes requested', from: ['approval'], to: 'risk_treatment' },
  // A.6.2.6 / clause 8.4: operation, monitoring and the periodic review.
  { on: 'review falls due, early review or serious incident', from: ['active', 'approval'], to: 'review_due' },
  { on: 'review sent back by an approver', from: ['approval'], to: 'review_due' },
  { on: 'review submitted for sign-off', from: ['review_due'], to: 'approval' },
  { on: 'review found a material change', from: ['active', 'review_due'], to: 'impact_assessment' },
  { on: 'review found failed fairness metrics', from: ['active', 'review_due'], to: 'risk_treatment' },
  // A new model version invalidates the approval: the assessment carries over only if purpose and context hold.
  { on: 'new model version, purpose or context changed', from: open, to: 'impact_assessment' },
  { on: 'new model version, bias testing again', from: open, to: 'bias_testing' },
  { on: 'new model version, assessment carried over', from: open, to: 'risk_treatment' },
  { on: 'new model version, plan carried over', from: open, to: 'approval' },
  { on: 'retirement', from: open, to: 'retired' },
];

export function assertTransition(from: Stage | null, to: Stage): void {
  if (!processSteps.some((s) => s.to === to && s.from.includes(from))) {
    throw new Error(`the lifecycle process has no step from ${from ?? 'registration'} to ${to}`);
  }
}
