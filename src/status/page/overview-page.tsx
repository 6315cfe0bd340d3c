import { CronJobsSection } from "./cronjobs-section.tsx";
import { EventsSection } from "./events-section.tsx";
import { Header } from "./header.tsx";
import { Layout, type PageContext } from "./layout.tsx";
import { NodesSection } from "./nodes-section.tsx";
import type { Overview } from "./overview.ts";
import { RevisionsSection } from "./revisions-section.tsx";
import { WorkloadsSection } from "./workloads-section.tsx";

/** `/`: which commit is live and how the sync stands, then workloads, nodes, revisions, CronJobs and events. */
export function OverviewPage(props: { page: PageContext; overview: Overview }) {
  const { overview, page } = props;
  return (
    <Layout page={page} title="Status">
      <Header overview={overview} page={page} />
      <main>
        <WorkloadsSection workloads={overview.workloads} />
        <NodesSection nodes={overview.nodes} now={page.now} />
        <RevisionsSection revisions={overview.revisions} liveSha={overview.live?.sha ?? null} page={page} />
        <CronJobsSection cronJobs={overview.cronJobs} now={page.now} />
        <EventsSection events={overview.events} filter={overview.filter} next={overview.nextEvents} now={page.now} action="/" />
      </main>
    </Layout>
  );
}
