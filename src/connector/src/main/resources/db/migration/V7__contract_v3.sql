-- The opportunity's shared fields at the last sync (JSON, by PATCH path): a CRM change is what differs
-- from them, and only that is PATCHed to Partner Center (referral_projection keeps Partner Center's side).
alter table sync_link add column opportunity_projection text;

-- Each audit line names the sync decision's correlation id: the one in its log lines and in the
-- MS-CorrelationId header of its Partner Center requests (what a partner quotes to Microsoft support).
alter table sync_audit add column correlation_id varchar(64);
