import { MemoryDesiredStore } from "../../src/desired/store-memory.ts";
import { describeDesiredStore } from "./store.suite.ts";

describeDesiredStore("in-memory fake", async () => new MemoryDesiredStore());
