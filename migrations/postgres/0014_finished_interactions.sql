-- AZ-4: a finished interaction is kept until it expires, with the redirect it ended with
-- sealed to the browser that finished it (AES-256-GCM under a key only that browser's cookie
-- gives; the code in it is not readable here). A form sent again by that browser (a double
-- click whose first answer the browser dropped) gets the same redirect instead of an error.
ALTER TABLE authz_interactions ADD COLUMN outcome TEXT;
