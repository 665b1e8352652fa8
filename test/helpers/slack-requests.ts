// Signed requests as Slack sends them: the playground sends the same ones, so the implementation lives in
// src/playground/slack-requests.ts.
export * from '../../src/playground/slack-requests.js';
