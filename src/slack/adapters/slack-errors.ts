// What a failed Web API call says, read from the errors @slack/web-api throws: Slack's own error code
// (`not_in_channel`, `expired_trigger_id`…) and the seconds a rate limit asks us to wait. Shared by the
// listeners' sentences, the group reads that wait out a 429 and the audit outbox's back-off.

/** What @slack/web-api throws for HTTP 429 when `rejectRateLimitedCalls: true`. */
export const SLACK_RATE_LIMITED_CODE = 'slack_webapi_rate_limited_error';

/** Seconds Slack asked us to wait, when the error is Slack's rate limit. */
export function rateLimitRetryAfter(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, retryAfter } = error as { code?: unknown; retryAfter?: unknown };
  if (code !== SLACK_RATE_LIMITED_CODE) return undefined;
  return typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
}

/** Slack's error code from a Web API failure (`expired_trigger_id`, `not_in_channel`…), if any. */
export function slackErrorCode(error: unknown): string | undefined {
  const code = (error as { data?: { error?: unknown } } | null)?.data?.error;
  return typeof code === 'string' ? code : undefined;
}
