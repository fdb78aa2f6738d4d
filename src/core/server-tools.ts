/**
 * Tools that run on OpenRouter's side rather than in our tool loop. They are
 * enabled per channel like any tool (`/tools enable web_search`) and listed
 * with the registry's tools, but go to the model as OpenRouter server tools.
 */

export const WEB_SEARCH_TOOL = 'web_search';

/** Results per search sent as `max_results`. */
export const WEB_SEARCH_MAX_RESULTS = 5;

export interface ServerTool {
  name: string;
  description: string;
}

export const SERVER_TOOLS: readonly ServerTool[] = [
  {
    name: WEB_SEARCH_TOOL,
    description: "Search the web (OpenRouter's web search); the answer lists its sources. Each search is charged.",
  },
];

export function isServerTool(name: string): boolean {
  return SERVER_TOOLS.some((tool) => tool.name === name);
}
