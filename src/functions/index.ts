// The Functions entry point (`main` in package.json): importing a file registers its functions.
import "./http.js";
import "./housekeeping.js";
import "./message-changes.js";
import "./push-dead-letters.js";
import "./push-deliveries.js";
import "./push-safety-net.js";
import "./redrive-resume.js";
import "./topic-changes.js";
import "./topic-safety-net.js";
