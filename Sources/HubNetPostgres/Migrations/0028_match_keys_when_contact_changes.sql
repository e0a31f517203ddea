-- A lead's match keys are computed when its email or phone changes, not on every update that
-- names them.
--
-- The trigger of 0014 fired on `UPDATE OF contact_email, contact_phone`: on every statement whose
-- SET list names either column, whether or not the value changed. The batch writer of field edits
-- (`applyEdits`) and the erasure write every contact column of the lead at once, so a device's
-- edit of a lead's region computed both keyed hashes again (two SECURITY DEFINER calls reading
-- the network's secret): in the sync benchmark's push, 1,185 of them for 1,185 region edits,
-- none needed. Now an insert computes them, and an update only when either value differs.
-- The keys stay a function of the stored values, as before: nothing else writes them.
DROP TRIGGER leads_match_keys ON leads;
CREATE TRIGGER leads_match_keys BEFORE INSERT ON leads
    FOR EACH ROW EXECUTE FUNCTION hubnet_lead_match_keys();
CREATE TRIGGER leads_match_keys_changed BEFORE UPDATE OF contact_email, contact_phone ON leads
    FOR EACH ROW
    WHEN (OLD.contact_email IS DISTINCT FROM NEW.contact_email OR OLD.contact_phone IS DISTINCT FROM NEW.contact_phone)
    EXECUTE FUNCTION hubnet_lead_match_keys();
