// CSS files are bundled as text (esbuild loader ".css": "text") and injected by the app.
declare module "*.css" {
  const text: string;
  export default text;
}
