-- A bulk cancel: "Request cancel of these N…" on a query-storm alert freezes the storm's sessions (pid,
-- backend_start, query_start) into one request, like terminate_all, and cancels exactly those queries.
ALTER TABLE pgsessions.requests DROP CONSTRAINT requests_action_check;
ALTER TABLE pgsessions.requests ADD CONSTRAINT requests_action_check
  CHECK (action IN ('cancel', 'terminate', 'cancel_then_terminate', 'terminate_walsender', 'terminate_all', 'cancel_all'));
