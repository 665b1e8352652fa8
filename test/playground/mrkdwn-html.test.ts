// mrkdwn → HTML and Block Kit → HTML for the playground page: Slack's formatting shown as Slack shows it,
// and nothing anyone typed — query text, application names, reasons, user names — turns into markup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { renderBlocks } from '../../src/playground/block-kit-html.js';
import { escapeHtml, mrkdwnToHtml, type Directory } from '../../src/playground/mrkdwn-html.js';
import { codeSpan, inlineText, safeText } from '../../src/slack/blocks/mrkdwn.js';

const names: Directory = {
  userName: (id) => ({ UALEX: 'Alex', UEVIL: '<img src=x onerror=alert(1)>' })[id],
  channelName: (id) => ({ CINC: 'incidents' })[id],
};

/** Every tag in `html` is one we add, with only the attributes we add: nothing came from the input. */
function assertOnlyOurMarkup(html: string): void {
  const allowed: Record<string, string[]> = {
    strong: [],
    em: [],
    del: [],
    code: [],
    pre: [],
    br: [],
    blockquote: [],
    span: ['class'],
    time: ['datetime'],
    a: ['href', 'rel', 'target'],
  };
  for (const [, name, attrs] of html.matchAll(/<\/?([a-zA-Z0-9-]+)([^>]*)>/g)) {
    assert.ok(name! in allowed, `unexpected tag <${name}> in ${html}`);
    for (const [, attr] of attrs!.matchAll(/\s([a-zA-Z-]+)=/g)) {
      assert.ok(allowed[name!]!.includes(attr!), `unexpected attribute ${attr} on <${name}> in ${html}`);
    }
  }
  // Quotes inside attribute values are escaped, so no attribute can be closed early.
  for (const [, value] of html.matchAll(/="([^"]*)"/g))
    assert.ok(!/[<>]/.test(value!), `raw < or > in an attribute: ${value}`);
}

test('Slack formatting becomes HTML: bold, italic, strike, code, code blocks, quotes, line breaks, emoji', () => {
  assert.equal(
    mrkdwnToHtml('*pid 42* is _slow_ and ~gone~'),
    '<strong>pid 42</strong> is <em>slow</em> and <del>gone</del>',
  );
  assert.equal(mrkdwnToHtml('a `SELECT 1` b'), 'a <code>SELECT 1</code> b');
  assert.equal(mrkdwnToHtml('```\nSELECT *\nFROM t```'), '<pre>SELECT *\nFROM t</pre>');
  assert.equal(mrkdwnToHtml('&gt; quoted\nnext'), '<blockquote>quoted</blockquote>next');
  assert.equal(mrkdwnToHtml('one\ntwo'), 'one<br>two');
  assert.equal(mrkdwnToHtml(':rotating_light: *blocks 4*'), '🚨 <strong>blocks 4</strong>');
  assert.equal(mrkdwnToHtml('at 10:30:00 and :no_such_emoji:'), 'at 10:30:00 and :no_such_emoji:');
  // Markers inside words are text, as in Slack: test_slot_abc stays as written.
  assert.equal(mrkdwnToHtml('slot test_slot_abc and 2*3*4'), 'slot test_slot_abc and 2*3*4');
});

test('mentions, channels, dates and links', () => {
  assert.equal(
    mrkdwnToHtml('<@UALEX> in <#CINC>', { names }),
    '<span class="mention">@Alex</span> in <span class="mention">#incidents</span>',
  );
  assert.equal(mrkdwnToHtml('<@UNKNOWN1>'), '<span class="mention">@UNKNOWN1</span>');
  const date = mrkdwnToHtml('<!date^1700000000^{date_num} {time}|fallback>');
  assert.equal(date, '<time datetime="2023-11-14T22:13:20.000Z">2023-11-14 22:13</time>');
  assert.match(mrkdwnToHtml('<!date^1700000000^{nonsense}|the fallback>'), />the fallback</);
  assert.equal(
    mrkdwnToHtml('<https://example.com/a?b=1&amp;c=2|the docs>'),
    '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">the docs</a>',
  );
});

test('hostile text stays text: tags, entities, attribute breaks, javascript: links, forged placeholders', () => {
  const cases = [
    '<script>alert(1)</script>',
    '&lt;img src=x onerror=alert(1)&gt;',
    '&amp;lt;script&amp;gt;',
    '<javascript:alert(1)|click me>',
    '<https://x.example/" onmouseover="alert(1)|hover>',
    '<https://x.example/|<img src=x onerror=alert(1)>>',
    '`</code><script>alert(1)</script>`',
    '```</pre><iframe src=//evil>```',
    '*<b>bold?</b>*',
    '\uE0000\uE001 and \uE000999\uE001',
    '<@UEVIL> says hi',
    '"\'><svg onload=alert(1)>',
  ];
  for (const input of cases) {
    const html = mrkdwnToHtml(input, { names });
    assertOnlyOurMarkup(html);
    assert.ok(!/<(script|img|iframe|svg|b)\b/i.test(html), `markup from ${JSON.stringify(input)} got through: ${html}`);
    assert.ok(!/href="javascript:/i.test(html), `a javascript: link from ${JSON.stringify(input)}`);
  }
  assert.equal(
    mrkdwnToHtml('&lt;img src=x onerror=alert(1)&gt;'),
    '&lt;img src=x onerror=alert(1)&gt;',
    'escaped by the app, shown as the characters it wrote',
  );
  assert.equal(mrkdwnToHtml('<@UEVIL>', { names }), '<span class="mention">@&lt;img src=x onerror=alert(1)&gt;</span>');
});

test('what the app escapes (query text, app names, reasons) comes out as exactly the characters written, never markup', () => {
  const query = `SELECT '<script>alert("x")</script>' & 1 FROM "t" -- \`tick\``;
  const html = mrkdwnToHtml(codeSpan(query));
  assertOnlyOurMarkup(html);
  assert.equal(html, `<code>${escapeHtml(query.replace(/`/g, '\u02CB'))}</code>`);
  assert.equal(
    mrkdwnToHtml(`app ${inlineText('<b onclick=x>rails</b>', 80)}`),
    'app &lt;b onclick=x&gt;rails&lt;/b&gt;',
  );
  assert.equal(mrkdwnToHtml(safeText('fix <!channel> & go', 100)), 'fix &lt;!channel&gt; &amp; go');
});

test('property: any string, through mrkdwnToHtml and through the app’s escaping, yields only our markup', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (input) => {
      assertOnlyOurMarkup(mrkdwnToHtml(input, { names }));
      const viaApp = mrkdwnToHtml(codeSpan(input), { names });
      assertOnlyOurMarkup(viaApp);
      assert.ok(
        !/<(?!\/?(code|em)\b)[a-z]/i.test(viaApp.replace(/^<code>|<\/code>$/g, '')) || viaApp === '<em>(empty)</em>',
        viaApp,
      );
    }),
    { numRuns: 500 },
  );
});

test('Block Kit: every block the app emits renders, buttons keep their labels, unknown blocks are shown and reported', () => {
  const { html, unsupported } = renderBlocks(
    [
      { type: 'header', text: { type: 'plain_text', text: 'Sessions <on> default' } },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: '*pid 1*' },
        fields: [{ type: 'mrkdwn', text: '_a_' }],
        accessory: { type: 'button', action_id: 'x', text: { type: 'plain_text', text: 'End walsender…' }, value: 'v' },
      },
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            action_id: 'a',
            style: 'danger',
            text: { type: 'plain_text', text: 'Terminate' },
            value: '"><script>',
          },
        ],
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'ctx' }] },
      { type: 'divider' },
      {
        type: 'input',
        block_id: 'r',
        label: { type: 'plain_text', text: 'Reason' },
        element: { type: 'plain_text_input', action_id: 'ri', multiline: true },
      },
      {
        type: 'input',
        block_id: 'e',
        label: { type: 'plain_text', text: 'Escalate' },
        element: {
          type: 'radio_buttons',
          action_id: 'ei',
          options: [{ text: { type: 'plain_text', text: 'Only' }, value: 'o' }],
          initial_option: { text: { type: 'plain_text', text: 'Only' }, value: 'o' },
        },
      },
      { type: 'video', title: { type: 'plain_text', text: 'x' } },
    ],
    { names, idPrefix: 't', errors: { r: 'Give a reason <now>' } },
  );
  assert.match(html, /<h3 class="bk-header">Sessions &lt;on&gt; default<\/h3>/);
  assert.match(html, /<strong>pid 1<\/strong>/);
  assert.match(html, /<em>a<\/em>/);
  assert.match(html, />End walsender…<\/button>/);
  assert.match(html, /class="btn btn-danger"[^>]*>Terminate<\/button>/);
  assert.ok(!html.includes('<script>'), 'button values are not put on the page');
  assert.match(html, /role="group" aria-labelledby="t-b1"/, 'buttons under a row are named by it');
  assert.match(html, /<hr class="bk-divider">/);
  assert.match(
    html,
    /<label class="bk-label" id="t-label-5" for="t-r-ri">Reason<\/label><textarea id="t-r-ri"[^>]*aria-invalid="true" aria-describedby="t-error-5"/,
  );
  assert.match(html, /<p class="field-error" id="t-error-5" role="alert">Give a reason &lt;now&gt;<\/p>/);
  assert.match(html, /<input type="radio" name="t-e-ei" value="o" data-option-index="0" checked>/);
  assert.match(html, /Block “video” is not supported/);
  assert.deepEqual(unsupported, ['block video']);
});

test('verbatim mrkdwn (every text the app sends) still renders its formatting and explicit mentions, as Slack does', () => {
  const { html } = renderBlocks(
    [{ type: 'section', text: { type: 'mrkdwn', text: '*Cluster:* default · <@URILEY> <script>', verbatim: true } }],
    {
      names: { userName: (id) => (id === 'URILEY' ? 'Riley' : undefined), channelName: () => undefined },
      idPrefix: 'v',
    },
  );
  assert.match(html, /<b>Cluster:<\/b>|<strong>Cluster:<\/strong>/);
  assert.ok(!html.includes('*Cluster:*'), html);
  assert.ok(!html.includes('&lt;@URILEY&gt;'), html);
  assert.ok(!html.includes('<script>'), html);
});

test('a user group mention shows the group’s handle when the page knows it, else its label, else @group', () => {
  const withGroups: Directory = { ...names, groupName: (id) => (id === 'S0ONCALL' ? 'db-oncall' : undefined) };
  assert.match(mrkdwnToHtml('escalated to <!subteam^S0ONCALL>', { names: withGroups }), />@db-oncall</);
  assert.match(mrkdwnToHtml('<!subteam^S0OTHER|@dba>', { names: withGroups }), />@dba</);
  assert.match(mrkdwnToHtml('<!subteam^S0OTHER>', { names: withGroups }), />@group</);
  // A handle is text, never markup.
  const hostile: Directory = { ...names, groupName: () => '<img src=x>' };
  assert.ok(!mrkdwnToHtml('<!subteam^S0X>', { names: hostile }).includes('<img'));
});
