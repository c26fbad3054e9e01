// Types of load_binaryen.js: binaryen's own.
import binaryen from 'binaryen';
export default binaryen;
