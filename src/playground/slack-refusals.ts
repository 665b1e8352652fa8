// What Slack refuses of a call's payload, as Slack says it: blocks over Block Kit's limits → invalid_blocks,
// a modal over them → invalid_arguments, a message text over 40,000 characters → msg_too_long. The Slack
// stand-in asks this before answering, so every test that goes through the stand-in checks every payload.
import {
  checkMessageBlocks,
  checkMessageText,
  checkHomeView,
  checkView,
  describeProblems,
  type LimitProblem,
} from '../slack/blocks/limits-check.js';

export interface Refusal {
  error: 'invalid_blocks' | 'invalid_arguments' | 'msg_too_long' | 'no_text';
  /** The problems found, for the stand-in's log line and the test that reads it. */
  detail: string;
}

const MESSAGE_METHODS = new Set(['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'response_url']);
const VIEW_METHODS = new Set(['views.open', 'views.push', 'views.update']);

const refuse = (error: Refusal['error'], problems: LimitProblem[]): Refusal => ({
  error,
  detail: describeProblems(problems),
});

/** Null when Slack would take the payload; else the error Slack answers with. */
export function refusalOf(method: string, params: Record<string, unknown>): Refusal | null {
  if (MESSAGE_METHODS.has(method)) {
    // A response_url post that only deletes the original, or changes nothing visible, needs no text.
    const needsText = method !== 'response_url' && method !== 'chat.update';
    const hasBlocks = Array.isArray(params.blocks) && params.blocks.length > 0;
    if (needsText && !hasBlocks && (typeof params.text !== 'string' || params.text.length === 0)) {
      return { error: 'no_text', detail: 'text is required when there are no blocks' };
    }
    const long = checkMessageText(params.text);
    if (long.length > 0) return refuse('msg_too_long', long);
    const blocks = checkMessageBlocks(params.blocks);
    if (blocks.length > 0) return refuse('invalid_blocks', blocks);
    return null;
  }
  if (VIEW_METHODS.has(method)) {
    const problems = checkView(params.view);
    return problems.length > 0 ? refuse('invalid_arguments', problems) : null;
  }
  if (method === 'views.publish') {
    const problems = checkHomeView(params.view);
    return problems.length > 0 ? refuse('invalid_arguments', problems) : null;
  }
  return null;
}
