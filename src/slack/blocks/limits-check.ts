// Slack's documented Block Kit and method limits as a pure check: the Slack stand-in refuses what Slack would
// refuse (invalid_blocks, invalid_arguments, msg_too_long) by running every payload through it, and the
// renderers' property tests run their output through the same function. It returns the problems found,
// each with where it is (`blocks[3].text.text`), so a refusal says what to fix.
import { LIMITS } from './mrkdwn.js';

export interface LimitProblem {
  path: string;
  problem: string;
}

type Node = Record<string, unknown>;
type Report = (path: string, problem: string) => void;

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkString(value: unknown, path: string, max: number, report: Report, min = 0): void {
  if (value === undefined) return;
  if (typeof value !== 'string') return report(path, 'must be a string');
  if (value.length < min) report(path, `must be at least ${min} characters`);
  if (value.length > max) report(path, `is ${value.length} characters, over ${max}`);
}

/** A text object: `plain_text` where only plain text is allowed, else either kind. */
function checkText(
  value: unknown,
  path: string,
  max: number,
  report: Report,
  plainOnly: boolean,
  required = true,
): void {
  if (value === undefined) {
    if (required) report(path, 'is required');
    return;
  }
  if (!isNode(value)) return report(path, 'must be a text object');
  if (value.type !== 'plain_text' && value.type !== 'mrkdwn')
    return report(`${path}.type`, 'must be plain_text or mrkdwn');
  if (plainOnly && value.type !== 'plain_text') report(`${path}.type`, 'must be plain_text');
  if (typeof value.text !== 'string') return report(`${path}.text`, 'must be a string');
  checkString(value.text, `${path}.text`, max, report, 1);
  if (value.type === 'mrkdwn' && 'emoji' in value) report(`${path}.emoji`, 'is allowed on plain_text only');
  if (value.type === 'plain_text' && 'verbatim' in value) report(`${path}.verbatim`, 'is allowed on mrkdwn only');
}

function checkConfirm(value: unknown, path: string, report: Report): void {
  if (value === undefined) return;
  if (!isNode(value)) return report(path, 'must be a confirmation object');
  checkText(value.title, `${path}.title`, LIMITS.confirmTitle, report, true);
  checkText(value.text, `${path}.text`, LIMITS.confirmText, report, false);
  checkText(value.confirm, `${path}.confirm`, LIMITS.confirmButton, report, true);
  checkText(value.deny, `${path}.deny`, LIMITS.confirmButton, report, true);
}

function checkOptions(value: unknown, path: string, max: number, report: Report, plainOnly: boolean): void {
  if (!Array.isArray(value)) return report(path, 'must be an array');
  if (value.length < 1) report(path, 'must hold at least one option');
  if (value.length > max) report(path, `holds ${value.length} options, over ${max}`);
  for (const [i, option] of value.entries()) {
    if (!isNode(option)) {
      report(`${path}[${i}]`, 'must be an option object');
      continue;
    }
    checkText(option.text, `${path}[${i}].text`, LIMITS.optionText, report, plainOnly);
    checkString(option.value, `${path}[${i}].value`, LIMITS.optionValue, report, 1);
    checkText(option.description, `${path}[${i}].description`, LIMITS.optionText, report, true, false);
  }
}

/** An interactive element (in an actions block, an accessory or an input). */
function checkElement(value: unknown, path: string, report: Report, actionIds: Set<string>): void {
  if (!isNode(value)) return report(path, 'must be an element object');
  if (value.action_id !== undefined) {
    checkString(value.action_id, `${path}.action_id`, LIMITS.actionId, report, 1);
    if (typeof value.action_id === 'string') {
      if (actionIds.has(value.action_id))
        report(`${path}.action_id`, `repeats ${JSON.stringify(value.action_id.slice(0, 60))} in its block`);
      actionIds.add(value.action_id);
    }
  }
  checkConfirm(value.confirm, `${path}.confirm`, report);
  switch (value.type) {
    case 'button':
      checkText(value.text, `${path}.text`, LIMITS.buttonText, report, true);
      checkString(value.value, `${path}.value`, LIMITS.buttonValue, report, 1);
      checkString(value.url, `${path}.url`, LIMITS.url, report, 1);
      if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger')
        report(`${path}.style`, 'must be primary or danger');
      return;
    case 'static_select':
      checkText(value.placeholder, `${path}.placeholder`, LIMITS.placeholder, report, true, false);
      return checkOptions(value.options, `${path}.options`, LIMITS.selectOptions, report, true);
    case 'radio_buttons':
    case 'checkboxes':
      return checkOptions(value.options, `${path}.options`, LIMITS.choiceOptions, report, false);
    case 'overflow':
      return checkOptions(value.options, `${path}.options`, LIMITS.overflowOptions, report, true);
    case 'plain_text_input':
      checkText(value.placeholder, `${path}.placeholder`, LIMITS.placeholder, report, true, false);
      checkString(value.initial_value, `${path}.initial_value`, LIMITS.inputValue, report);
      if (
        value.max_length !== undefined &&
        (typeof value.max_length !== 'number' || value.max_length < 1 || value.max_length > LIMITS.inputValue)
      ) {
        report(`${path}.max_length`, `must be a number from 1 to ${LIMITS.inputValue}`);
      }
      return;
    case 'image':
      checkString(value.alt_text, `${path}.alt_text`, LIMITS.altText, report, 1);
      return;
    default:
      report(`${path}.type`, `${JSON.stringify(value.type)} is not an element pgsessions knows Slack accepts`);
  }
}

function checkContextElement(value: unknown, path: string, report: Report): void {
  if (isNode(value) && value.type === 'image')
    return checkString(value.alt_text, `${path}.alt_text`, LIMITS.altText, report, 1);
  checkText(value, path, LIMITS.sectionText, report, false);
}

function checkList(
  value: unknown,
  path: string,
  max: number,
  report: Report,
  each: (item: unknown, path: string) => void,
): void {
  if (!Array.isArray(value)) return report(path, 'must be an array');
  if (value.length < 1) report(path, 'must not be empty');
  if (value.length > max) report(path, `holds ${value.length} elements, over ${max}`);
  for (const [i, item] of value.entries()) each(item, `${path}[${i}]`);
}

function checkBlock(
  block: unknown,
  path: string,
  report: Report,
  blockIds: Set<string>,
  surface: 'message' | 'modal',
): void {
  if (!isNode(block)) return report(path, 'must be a block object');
  if (block.block_id !== undefined) {
    checkString(block.block_id, `${path}.block_id`, LIMITS.blockId, report, 1);
    if (typeof block.block_id === 'string') {
      if (blockIds.has(block.block_id))
        report(`${path}.block_id`, `repeats ${JSON.stringify(block.block_id.slice(0, 60))}`);
      blockIds.add(block.block_id);
    }
  }
  const actionIds = new Set<string>();
  switch (block.type) {
    case 'section':
      if (block.text === undefined && block.fields === undefined) report(path, 'a section needs text or fields');
      checkText(block.text, `${path}.text`, LIMITS.sectionText, report, false, false);
      if (block.fields !== undefined) {
        checkList(block.fields, `${path}.fields`, LIMITS.sectionFields, report, (f, p) =>
          checkText(f, p, LIMITS.sectionField, report, false),
        );
      }
      if (block.accessory !== undefined) checkElement(block.accessory, `${path}.accessory`, report, actionIds);
      return;
    case 'header':
      return checkText(block.text, `${path}.text`, LIMITS.headerText, report, true);
    case 'context':
      return checkList(block.elements, `${path}.elements`, LIMITS.contextElements, report, (e, p) =>
        checkContextElement(e, p, report),
      );
    case 'actions':
      return checkList(block.elements, `${path}.elements`, LIMITS.actionsElements, report, (e, p) =>
        checkElement(e, p, report, actionIds),
      );
    case 'divider':
      return;
    case 'input':
      if (surface !== 'modal') report(`${path}.type`, 'input blocks belong in modals');
      checkText(block.label, `${path}.label`, LIMITS.inputLabel, report, true);
      checkText(block.hint, `${path}.hint`, LIMITS.inputLabel, report, true, false);
      return checkElement(block.element, `${path}.element`, report, actionIds);
    case 'image':
      checkString(block.image_url, `${path}.image_url`, LIMITS.url, report, 1);
      checkString(block.alt_text, `${path}.alt_text`, LIMITS.altText, report, 1);
      return checkText(block.title, `${path}.title`, LIMITS.altText, report, true, false);
    case 'markdown':
      return checkString(block.text, `${path}.text`, LIMITS.markdownBlock, report, 1);
    default:
      report(`${path}.type`, `${JSON.stringify(block.type)} is not a block pgsessions knows Slack accepts`);
  }
}

function checkBlocks(blocks: unknown, path: string, max: number, surface: 'message' | 'modal', report: Report): void {
  if (blocks === undefined) return;
  if (!Array.isArray(blocks)) return report(path, 'must be an array');
  if (blocks.length > max) report(path, `holds ${blocks.length} blocks, over ${max}`);
  const blockIds = new Set<string>();
  for (const [i, block] of blocks.entries()) checkBlock(block, `${path}[${i}]`, report, blockIds, surface);
}

function collect(run: (report: Report) => void): LimitProblem[] {
  const problems: LimitProblem[] = [];
  run((path, problem) => problems.push({ path, problem }));
  return problems;
}

/** A message's blocks (chat.postMessage, chat.update, chat.postEphemeral, a response_url). */
export function checkMessageBlocks(blocks: unknown): LimitProblem[] {
  return collect((report) => checkBlocks(blocks, 'blocks', LIMITS.blocksPerMessage, 'message', report));
}

/** A message's fallback `text`: Slack cuts or refuses beyond 40,000 characters. */
export function checkMessageText(text: unknown): LimitProblem[] {
  return collect((report) => checkString(text, 'text', LIMITS.messageText, report));
}

/** A modal (views.open, views.push, views.update). */
export function checkView(view: unknown): LimitProblem[] {
  return collect((report) => {
    if (!isNode(view)) return report('view', 'must be a view object');
    if (view.type !== 'modal') report('view.type', 'must be modal');
    checkText(view.title, 'view.title', LIMITS.modalTitle, report, true);
    checkText(view.submit, 'view.submit', LIMITS.modalTitle, report, true, false);
    checkText(view.close, 'view.close', LIMITS.modalTitle, report, true, false);
    checkString(view.private_metadata, 'view.private_metadata', LIMITS.privateMetadata, report);
    checkString(view.callback_id, 'view.callback_id', LIMITS.actionId, report);
    checkString(view.external_id, 'view.external_id', LIMITS.actionId, report);
    checkBlocks(view.blocks, 'view.blocks', LIMITS.blocksPerModal, 'modal', report);
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isNode(b) && b.type === 'input');
    if (hasInput && view.submit === undefined) report('view.submit', 'is required when the view has input blocks');
  });
}

/** A Home tab view (views.publish): type home, at most 100 blocks, the same string limits as a modal. */
export function checkHomeView(view: unknown): LimitProblem[] {
  return collect((report) => {
    if (!isNode(view)) return report('view', 'must be a view object');
    if (view.type !== 'home') report('view.type', 'must be home');
    checkString(view.private_metadata, 'view.private_metadata', LIMITS.privateMetadata, report);
    checkString(view.callback_id, 'view.callback_id', LIMITS.actionId, report);
    checkString(view.external_id, 'view.external_id', LIMITS.actionId, report);
    checkBlocks(view.blocks, 'view.blocks', LIMITS.blocksPerModal, 'modal', report);
  });
}

/** One line for a refusal: the first few problems, where they are. */
export function describeProblems(problems: LimitProblem[]): string {
  const shown = problems.slice(0, 5).map((p) => `${p.path} ${p.problem}`);
  return problems.length > 5 ? `${shown.join('; ')}; and ${problems.length - 5} more` : shown.join('; ');
}
