// The Functions entry point (`main` in package.json): importing a file registers its functions.
// Each registers a named, exported handler, as the samples do
// (Azure/azure-functions-nodejs-samples ts/src/functions/timerTrigger1.ts), so a test or a
// stack trace can name it.
import "./http.js";
import "./housekeeping.js";
import "./lifecycle.js";
import "./message-changes.js";
import "./push-dead-letters.js";
import "./push-deliveries.js";
import "./push-safety-net.js";
import "./redrive-resume.js";
import "./topic-changes.js";
import "./topic-safety-net.js";
