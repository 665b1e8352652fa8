// Block Kit → HTML for the playground page: every block and element the app emits (header, section with
// text, fields and accessory, context, actions, divider, input, image, rich_text), and a visible notice for
// anything it does not know yet, so a new block type is noticed instead of silently dropped. Pure.
import { escapeHtml, mrkdwnToHtml, plainTextToHtml, type Directory } from './mrkdwn-html.js';

export interface RenderContext {
  names: Directory;
  now?: Date;
  /** Prefix for element ids (unique per message or view on the page). */
  idPrefix: string;
  /** Validation errors by block_id (modals). */
  errors?: Record<string, string>;
}

export interface Rendered {
  html: string;
  /** Block and element types shown as "not supported" (the page logs them). */
  unsupported: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const attr = (v: unknown) => escapeHtml(String(v ?? ''));

/** A text object (mrkdwn or plain_text). */
export function textObject(t: unknown, ctx: RenderContext): string {
  if (typeof t === 'string') return plainTextToHtml(t);
  if (!isObj(t)) return '';
  const text = typeof t.text === 'string' ? t.text : '';
  // `verbatim` only stops Slack from auto-linking bare URLs, #channels and @here, which this page never does:
  // formatting and explicit <@U…>, <!date…> sequences still render, as in Slack.
  if (t.type === 'mrkdwn') return mrkdwnToHtml(text, { names: ctx.names, ...(ctx.now ? { now: ctx.now } : {}) });
  return plainTextToHtml(text, t.emoji !== false);
}

/** Plain words of a text object, for accessible names and fallbacks. */
export function plainOf(t: unknown): string {
  if (typeof t === 'string') return t;
  return isObj(t) && typeof t.text === 'string' ? t.text : '';
}

function button(el: Obj, where: string, ctx: RenderContext): string {
  const style = el.style === 'primary' || el.style === 'danger' ? ` btn-${el.style}` : '';
  const label = textObject(el.text, ctx);
  if (typeof el.url === 'string' && /^https?:\/\//i.test(el.url)) {
    return `<a class="btn${style}" href="${attr(el.url)}" rel="noopener noreferrer" target="_blank" ${where}>${label}</a>`;
  }
  const confirm = isObj(el.confirm)
    ? ` data-confirm="${attr(`${plainOf(el.confirm.title)}\n\n${plainOf(el.confirm.text)}`)}"`
    : '';
  return `<button type="button" class="btn${style}" data-interactive="button" ${where}${confirm}>${label}</button>`;
}

function option(o: unknown, ctx: RenderContext): { html: string; value: string } {
  if (!isObj(o)) return { html: '', value: '' };
  return { html: textObject(o.text, ctx), value: String(o.value ?? '') };
}

/** An input element in a modal: the field the person fills in, named by block_id/action_id. */
function inputElement(
  el: Obj,
  blockId: string,
  labelId: string,
  errorId: string | null,
  ctx: RenderContext,
  unsupported: string[],
): string {
  const actionId = String(el.action_id ?? '');
  const id = `${ctx.idPrefix}-${blockId}-${actionId}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const data = `data-block-id="${attr(blockId)}" data-action-id="${attr(actionId)}"`;
  const invalid = errorId ? ` aria-invalid="true" aria-describedby="${errorId}"` : '';
  switch (el.type) {
    case 'plain_text_input': {
      const placeholder = isObj(el.placeholder) ? ` placeholder="${attr(plainOf(el.placeholder))}"` : '';
      const max = typeof el.max_length === 'number' ? ` maxlength="${el.max_length}"` : '';
      const initial = typeof el.initial_value === 'string' ? el.initial_value : '';
      const common = `id="${id}" class="field" data-input="plain_text_input" ${data} aria-labelledby="${labelId}"${placeholder}${max}${invalid}`;
      return el.multiline === true
        ? `<textarea ${common} rows="3">${escapeHtml(initial)}</textarea>`
        : `<input type="text" ${common} value="${attr(initial)}">`;
    }
    case 'radio_buttons': {
      const initial = isObj(el.initial_option) ? String(el.initial_option.value ?? '') : null;
      const options = arr(el.options).map((o, i) => {
        const { html, value } = option(o, ctx);
        const checked = value === initial ? ' checked' : '';
        return `<label class="radio"><input type="radio" name="${id}" value="${attr(value)}" data-option-index="${i}"${checked}> <span>${html}</span></label>`;
      });
      return `<div role="radiogroup" class="radios" data-input="radio_buttons" ${data} aria-labelledby="${labelId}"${invalid}>${options.join('')}</div>`;
    }
    default:
      unsupported.push(`element ${String(el.type)}`);
      return `<p class="unsupported">Input element “${escapeHtml(String(el.type))}” is not supported by the playground.</p>`;
  }
}

function element(el: unknown, where: string, ctx: RenderContext, unsupported: string[]): string {
  if (!isObj(el)) return '';
  switch (el.type) {
    case 'button':
      return button(el, where, ctx);
    case 'image':
      return `<img class="inline-image" src="${attr(/^https?:\/\//i.test(String(el.image_url)) ? el.image_url : '')}" alt="${attr(el.alt_text)}">`;
    case 'mrkdwn':
    case 'plain_text':
      return `<span>${textObject(el, ctx)}</span>`;
    default:
      unsupported.push(`element ${String(el.type)}`);
      return `<span class="unsupported">[${escapeHtml(String(el.type))} — not supported by the playground]</span>`;
  }
}

function richText(block: Obj, ctx: RenderContext): string {
  const inline = (el: unknown): string => {
    if (!isObj(el)) return '';
    const style = isObj(el.style) ? el.style : {};
    let html = '';
    if (el.type === 'text') html = plainTextToHtml(String(el.text ?? ''), false);
    else if (el.type === 'link')
      html = `<a href="${attr(/^https?:\/\//i.test(String(el.url)) ? el.url : '#')}" rel="noopener noreferrer" target="_blank">${escapeHtml(String(el.text ?? el.url ?? ''))}</a>`;
    else if (el.type === 'user')
      html = `<span class="mention">@${escapeHtml(ctx.names.userName(String(el.user_id)) ?? String(el.user_id))}</span>`;
    else if (el.type === 'channel')
      html = `<span class="mention">#${escapeHtml(ctx.names.channelName(String(el.channel_id)) ?? String(el.channel_id))}</span>`;
    else if (el.type === 'emoji') html = mrkdwnToHtml(`:${String(el.name ?? '')}:`);
    if (style.code) html = `<code>${html}</code>`;
    if (style.bold) html = `<strong>${html}</strong>`;
    if (style.italic) html = `<em>${html}</em>`;
    if (style.strike) html = `<del>${html}</del>`;
    return html;
  };
  return arr(block.elements)
    .map((part) => {
      if (!isObj(part)) return '';
      const inner = arr(part.elements).map(inline).join('');
      if (part.type === 'rich_text_preformatted') return `<pre>${inner}</pre>`;
      if (part.type === 'rich_text_quote') return `<blockquote>${inner}</blockquote>`;
      if (part.type === 'rich_text_list') {
        const tag = part.style === 'ordered' ? 'ol' : 'ul';
        return `<${tag}>${arr(part.elements)
          .map((item) => `<li>${isObj(item) ? arr(item.elements).map(inline).join('') : ''}</li>`)
          .join('')}</${tag}>`;
      }
      return `<p>${inner}</p>`;
    })
    .join('');
}

/** The blocks of a message or a modal. Interactive elements carry their position (block, element) for the page. */
export function renderBlocks(blocks: unknown, ctx: RenderContext): Rendered {
  const unsupported: string[] = [];
  const html = arr(blocks)
    .map((block, i) => {
      if (!isObj(block)) return '';
      const at = (j: number | 'accessory') => `data-block="${i}" data-element="${j}"`;
      switch (block.type) {
        case 'header':
          return `<h3 class="bk-header">${textObject(block.text, ctx)}</h3>`;
        case 'divider':
          return '<hr class="bk-divider">';
        case 'section': {
          const text = block.text === undefined ? '' : `<div class="bk-text">${textObject(block.text, ctx)}</div>`;
          const fields =
            arr(block.fields).length > 0
              ? `<div class="bk-fields">${arr(block.fields)
                  .map((f) => `<div>${textObject(f, ctx)}</div>`)
                  .join('')}</div>`
              : '';
          const accessory =
            block.accessory === undefined
              ? ''
              : `<div class="bk-accessory">${element(block.accessory, at('accessory'), ctx, unsupported)}</div>`;
          return `<div class="bk-section" id="${ctx.idPrefix}-b${i}"><div class="bk-section-body">${text}${fields}</div>${accessory}</div>`;
        }
        case 'context':
          return `<div class="bk-context">${arr(block.elements)
            .map((el, j) => element(el, at(j), ctx, unsupported))
            .join(' ')}</div>`;
        case 'actions': {
          // Buttons under a section act on what it shows (a session row): the group is named by it.
          const previous = arr(blocks)[i - 1];
          const name =
            isObj(previous) && previous.type === 'section'
              ? `aria-labelledby="${ctx.idPrefix}-b${i - 1}"`
              : 'aria-label="Actions"';
          return `<div class="bk-actions" role="group" ${name}>${arr(block.elements)
            .map((el, j) => element(el, at(j), ctx, unsupported))
            .join('')}</div>`;
        }
        case 'image':
          return `<figure class="bk-image"><img src="${attr(/^https?:\/\//i.test(String(block.image_url)) ? block.image_url : '')}" alt="${attr(block.alt_text)}">${block.title ? `<figcaption>${textObject(block.title, ctx)}</figcaption>` : ''}</figure>`;
        case 'rich_text':
          return `<div class="bk-rich">${richText(block, ctx)}</div>`;
        case 'input': {
          const blockId = String(block.block_id ?? `b${i}`);
          const labelId = `${ctx.idPrefix}-label-${i}`;
          const error = ctx.errors?.[blockId];
          const errorId = error === undefined ? null : `${ctx.idPrefix}-error-${i}`;
          const el = isObj(block.element) ? block.element : {};
          const optional = block.optional === true ? ' <span class="optional">(optional)</span>' : '';
          const hint = block.hint ? `<p class="hint">${textObject(block.hint, ctx)}</p>` : '';
          const err = errorId
            ? `<p class="field-error" id="${errorId}" role="alert">${plainTextToHtml(error!)}</p>`
            : '';
          // A label element for text inputs (so the field is named by it), a plain heading for groups.
          const forId =
            el.type === 'plain_text_input'
              ? ` for="${`${ctx.idPrefix}-${blockId}-${String(el.action_id ?? '')}`.replace(/[^A-Za-z0-9_-]/g, '_')}"`
              : '';
          const label = `<label class="bk-label" id="${labelId}"${forId}>${textObject(block.label, ctx)}</label>${optional}`;
          return `<div class="bk-input" data-block-id="${attr(blockId)}">${label}${inputElement(el, blockId, labelId, errorId, ctx, unsupported)}${err}${hint}</div>`;
        }
        default:
          unsupported.push(`block ${String(block.type)}`);
          return `<div class="unsupported">Block “${escapeHtml(String(block.type))}” is not supported by the playground yet.</div>`;
      }
    })
    .join('');
  return { html, unsupported };
}
