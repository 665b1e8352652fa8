// The suite's Web API recorder is the playground's Slack stand-in: one implementation, so what the tests
// check and what a person sees in the playground cannot drift. See src/playground/slack-stand-in.ts.
export * from '../../src/playground/slack-stand-in.js';
