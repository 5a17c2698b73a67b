// Route walk, slice 5 of 6 (see route-walk.ts): every route whose index % 6 is 4.
import { walkRoutes } from './route-walk.ts';

walkRoutes(4);
