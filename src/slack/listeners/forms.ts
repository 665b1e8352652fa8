// One path for every request form's submission (a row's request form, a storm's bulk cancel, a connections
// relief): a damaged form or an empty reason is refused in place; what the form is about is read again now
// (the payload brings ids only); the person must still be allowed to look at that cluster there; then the
// form closes and the request is asked for, and a refusal is told to the requester privately in that channel.
import type { App } from '@slack/bolt';
import { stateTroubleText } from '../../domain/messages.js';
import type { Outcome } from '../../domain/outcome.js';
import type { Logger } from '../../logger.js';
import { INPUT } from '../blocks/ids.js';
import { readFailurePlain } from '../blocks/read.js';
import type { AppServices } from '../services.js';

const DAMAGED = 'This form is damaged: close it and press the button again.';
const NO_REASON = 'Give a reason: it goes into the audit trail.';
/** An alert's incident could not be read (the state database): said by its buttons and its forms. */
export const UNREADABLE =
  'pgsessions could not read that alert (its state database may be unreachable): nothing was requested. Try again in a moment.';
const NOT_RECORDED =
  'pgsessions could not record the request (its state database may be unreachable): nothing was requested.';

/** view.state.values: block id → action id → what the input holds. */
export type FormValues = Record<string, Record<string, unknown>>;

export type Asked = Outcome<unknown>;

/** What a submitted form asks about: where, and how to ask for the request. */
export interface FormTarget {
  cluster: string;
  /** Where the request is posted, and where a refusal is told. */
  channel: string;
  ask(reason: string, requester: string): Promise<Asked>;
}

export interface RequestForm<M> {
  callbackId: string;
  /** The form's private_metadata, checked; null when damaged (or when the form's feature is off). */
  decode(metadata: string): M | null;
  /** What the form is about, read now; a sentence refuses the form in place, a throw is "could not read". */
  find(meta: M, values: FormValues): Promise<FormTarget | string>;
  /** The form's name in the log: "<what> failed". */
  what: string;
}

/** The reason typed: a signed payload is Slack's, but its fields are still checked (a non-string is no reason). */
function reasonOf(values: FormValues): string {
  const typed = (values[INPUT.reasonBlock]?.[INPUT.reasonAction] as { value?: unknown } | undefined)?.value;
  return typeof typed === 'string' ? typed.trim() : '';
}

export function registerRequestForm<M>(app: App, services: AppServices, logger: Logger, form: RequestForm<M>): void {
  app.view(form.callbackId, async ({ ack, body, view, client }) => {
    const refuse = (message: string) => ack({ response_action: 'errors', errors: { [INPUT.reasonBlock]: message } });
    const values = view.state.values as FormValues;
    const meta = form.decode(view.private_metadata);
    if (!meta) return refuse(DAMAGED);
    const reason = reasonOf(values);
    if (reason.length === 0) return refuse(NO_REASON);
    let target: FormTarget | string;
    try {
      target = await form.find(meta, values);
    } catch (error) {
      logger.error({ err: error }, `could not read what the ${form.what} form is about`);
      return refuse(UNREADABLE);
    }
    if (typeof target === 'string') return refuse(target);
    const { cluster, channel } = target;
    const allowed = await services.reads.visible(cluster, { user: body.user.id, channel });
    if (!allowed.ok) return refuse(readFailurePlain(allowed.refusal));
    await ack();
    let message: string;
    try {
      const result = await target.ask(reason, body.user.id);
      if (result.ok) return;
      message = result.refusal.message;
    } catch (error) {
      logger.error({ err: error }, `${form.what} failed`);
      message = stateTroubleText(error) ?? NOT_RECORDED;
    }
    await client.chat.postEphemeral({ channel, user: body.user.id, text: message }).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not tell the requester');
    });
  });
}
