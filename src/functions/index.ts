// The Functions entry point (`main` in package.json): importing a file registers its functions.
import "./http.js";
import "./housekeeping.js";
