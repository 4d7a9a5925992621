# Spawn benchmark: `mix run bench/spawn.exs` (as root).
#
# What it times, per run, from the BEAM: a /bin/true workload in new net, pid, mount,
# uts and ipc namespaces, started and reaped.
#
#   * linx       Linx.Process.spawn/1 → {:linx_process, :ready, _} (the checkpoint) →
#                proceed/1 → {:linx_process, :exited, 0} → GenServer.stop/1, with the
#                agent started ahead (the default, see Linx.Process.Prestart)
#   * linx-cold  the same with `config :linx, process_prestart: false`: every run starts
#                its own agent (what a first spawn, or one after a second of quiet, costs)
#   * unshare    System.cmd("unshare", ["-fnpmiu", "/bin/true"])        (util-linux)
#   * bwrap      System.cmd("bwrap", ["--unshare-all", "--bind", "/", "/", "/bin/true"])
#   * true       System.cmd("/bin/true", [])  (no namespaces: the BEAM's own spawn cost)
#
# The contenders take turns within each round, in a shuffled order, with a pause of
# --gap ms (default 5) before each run, so that work one run leaves behind (the kernel's
# deferred namespace clean-up, Linx starting its next agent) is not billed to the next,
# and load from elsewhere on the machine falls on all of them alike. Each run happens in
# a fresh process.
#
# Then: Linx back to back (no pause, nothing else between runs), and, if hyperfine is
# installed, the floor: the same commands exec'd by hyperfine, without a BEAM.
#
# Options: --runs N (default 1000), --warmup N (default 50), --gap MS, --phases (time
# the Linx session's phases too), --no-floor, --no-cold.
#
# Figures and their analysis: docs/PERFORMANCE.md, "Process spawn".

{opts, _, _} =
  OptionParser.parse(System.argv(),
    strict: [
      runs: :integer,
      warmup: :integer,
      gap: :integer,
      phases: :boolean,
      floor: :boolean,
      cold: :boolean
    ]
  )

runs = Keyword.get(opts, :runs, 1000)
gap = Keyword.get(opts, :gap, 5)
warmup = Keyword.get(opts, :warmup, 50)
namespaces = [:net, :pid, :mount, :uts, :ipc]

defmodule SpawnBench do
  def linx(namespaces) do
    t0 = System.monotonic_time()
    {:ok, s} = Linx.Process.spawn(argv: ["/bin/true"], namespaces: namespaces)

    receive do
      {:linx_process, :ready, _host_pid} -> :ok
    end

    t1 = System.monotonic_time()
    :ok = Linx.Process.proceed(s)

    receive do
      {:linx_process, :running} -> :ok
    end

    t2 = System.monotonic_time()

    receive do
      {:linx_process, :exited, 0} -> :ok
    end

    t3 = System.monotonic_time()
    :ok = GenServer.stop(s)
    t4 = System.monotonic_time()
    {t4 - t0, [ready: t1 - t0, running: t2 - t1, exited: t3 - t2, stop: t4 - t3]}
  end

  def linx_cold(namespaces) do
    Application.put_env(:linx, :process_prestart, false)

    try do
      linx(namespaces)
    after
      Application.delete_env(:linx, :process_prestart)
    end
  end

  def cmd(path, args) do
    t0 = System.monotonic_time()
    {_, 0} = System.cmd(path, args)
    {System.monotonic_time() - t0, []}
  end

  def us(native), do: System.convert_time_unit(native, :native, :nanosecond) / 1000

  def percentile(sorted, p) do
    n = length(sorted)
    Enum.at(sorted, min(n - 1, round(p / 100 * (n - 1))))
  end

  def stats(samples) do
    sorted = samples |> Enum.map(&us/1) |> Enum.sort()

    %{
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean: Enum.sum(sorted) / length(sorted),
      min: hd(sorted)
    }
  end

  def ms(us), do: :erlang.float_to_binary(us / 1000, decimals: 3)
  def ratio(a, b), do: :erlang.float_to_binary(a / b, decimals: 2)

  def row(name, s) do
    String.pad_trailing(name, 12) <>
      Enum.map_join([s.p50, s.p99, s.mean, s.min], "", &String.pad_leading(ms(&1), 10))
  end
end

unless match?({"0\n", 0}, System.cmd("id", ["-u"])) do
  IO.puts(:stderr, "bench/spawn.exs needs root (it creates namespaces)")
  System.halt(1)
end

unshare = System.find_executable("unshare") || raise "unshare(1) not found"
bwrap = System.find_executable("bwrap")

contenders =
  [
    {"linx", fn -> SpawnBench.linx(namespaces) end},
    Keyword.get(opts, :cold, true) && {"linx-cold", fn -> SpawnBench.linx_cold(namespaces) end},
    {"unshare", fn -> SpawnBench.cmd(unshare, ~w(-fnpmiu /bin/true)) end},
    bwrap && {"bwrap", fn -> SpawnBench.cmd(bwrap, ~w(--unshare-all --bind / / /bin/true)) end},
    {"true", fn -> SpawnBench.cmd("/bin/true", []) end}
  ]
  |> Enum.filter(& &1)

if bwrap == nil, do: IO.puts("(bwrap is not installed: skipped; apt-get install bubblewrap)")

{:ok, cpus} = File.read("/proc/cpuinfo")
ncpu = cpus |> String.split("\n") |> Enum.count(&String.starts_with?(&1, "processor"))
{uname, 0} = System.cmd("uname", ["-r"])
{:ok, loadavg} = File.read("/proc/loadavg")

IO.puts("""
Linx.Process spawn benchmark: /bin/true in new #{Enum.join(namespaces, "+")} namespaces
#{runs} runs per contender (#{warmup} warm-up), interleaved, #{gap} ms apart; kernel \
#{String.trim(uname)}, #{ncpu} CPUs, OTP #{System.otp_release()}, Elixir #{System.version()}
load average at start: #{loadavg |> String.split() |> Enum.take(3) |> Enum.join(" ")}
""")

for _ <- 1..warmup, {_, fun} <- contenders, do: fun.()

results =
  Enum.reduce(1..runs, %{}, fn _, acc ->
    contenders
    |> Enum.shuffle()
    |> Enum.reduce(acc, fn {name, fun}, acc ->
      Process.sleep(gap)
      # Each run in a fresh process: no garbage collection of this one's growing results
      # lands inside a timed region.
      {total, phases} = fun |> Task.async() |> Task.await(30_000)
      Map.update(acc, name, [{total, phases}], &[{total, phases} | &1])
    end)
  end)

stats =
  Map.new(results, fn {name, samples} ->
    {name, SpawnBench.stats(Enum.map(samples, &elem(&1, 0)))}
  end)

IO.puts(String.pad_trailing("contender", 12) <> "    p50 ms    p99 ms   mean ms    min ms")
for {name, _} <- contenders, do: IO.puts(SpawnBench.row(name, stats[name]))

linx = stats["linx"]
IO.puts("")

for {name, _} <- contenders, name != "linx" do
  s = stats[name]

  IO.puts(
    "linx / #{String.pad_trailing(name, 10)} p50 #{SpawnBench.ratio(linx.p50, s.p50)}x   " <>
      "p99 #{SpawnBench.ratio(linx.p99, s.p99)}x"
  )
end

IO.puts("")

for {name, limit, text} <- [
      {"unshare", 1.0, "Linx p50 <= 1.0x unshare(1)"},
      {"bwrap", 0.5, "Linx p50 <= 0.5x bwrap"}
    ],
    s = stats[name] do
  verdict = if linx.p50 <= limit * s.p50, do: "met", else: "MISSED"
  IO.puts("target #{text}: #{verdict} (#{SpawnBench.ratio(linx.p50, s.p50)}x)")
end

if Keyword.get(opts, :phases, false) do
  IO.puts("\nLinx session phases, p50 / p99 ms, as the BEAM sees them:")

  for name <- ["linx", "linx-cold"], Map.has_key?(results, name) do
    cells =
      for phase <- [:ready, :running, :exited, :stop] do
        s = SpawnBench.stats(for {_, phases} <- results[name], do: phases[phase])
        "#{phase} #{SpawnBench.ms(s.p50)} / #{SpawnBench.ms(s.p99)}"
      end

    IO.puts("  #{String.pad_trailing(name, 10)} " <> Enum.join(cells, "   "))
  end

  IO.puts("""
    ready   = spawn/1 → :ready: session start, agent (started, or adopted), clone3 with
              the namespaces, the child's set-up, the :ready report
    running = proceed/1 → :running: the round trip to the child, its execve; the agent
              holds :running back up to 1 ms, so for /bin/true (which ends sooner) this
              also covers its run, its exit and the reap, and :exited comes in the same write
    exited  = :running → :exited (for a workload that outlives the hold: its run, exit, reap)
    stop    = GenServer.stop/1
  """)
end

# Back to back: what a tight loop of spawns gets (the next agent may still be starting
# when it is adopted).
back =
  Task.async(fn ->
    for _ <- 1..max(div(runs, 3), 100) do
      {total, _} = SpawnBench.linx(namespaces)
      total
    end
  end)
  |> Task.await(:infinity)
  |> SpawnBench.stats()

IO.puts(
  "\n" <>
    String.pad_trailing("linx, back to back (no pause):", 34) <>
    "p50 #{SpawnBench.ms(back.p50)} ms, p99 #{SpawnBench.ms(back.p99)} ms"
)

# The floor (floors/README.md): the kernel work with no BEAM in front of it.
hyperfine = System.find_executable("hyperfine")

cond do
  Keyword.get(opts, :floor, true) == false ->
    :ok

  hyperfine == nil ->
    IO.puts(
      "\nfloor: hyperfine is not installed (floors/README.md: unshare -fnpmiu 2.5 ms, " <>
        "/bin/true 0.6 ms)"
    )

  true ->
    json =
      Path.join(System.tmp_dir!(), "linx-spawn-floor-#{System.unique_integer([:positive])}.json")

    commands =
      ["#{unshare} -fnpmiu /bin/true", "#{unshare} -fpmiu /bin/true", "/bin/true"] ++
        if(bwrap, do: ["#{bwrap} --unshare-all --bind / / /bin/true"], else: [])

    {_, 0} =
      System.cmd(
        hyperfine,
        ["-N", "--warmup", "20", "--runs", "300", "--export-json", json, "--style", "none"] ++
          commands,
        stderr_to_stdout: true
      )

    # hyperfine's JSON: {"results": [{"command": ..., "mean": ..., "median": ...}, ...]}
    rows = Regex.scan(~r/"command":\s*"([^"]*)".*?"median":\s*([-+0-9.eE]+)/s, File.read!(json))
    File.rm(json)
    IO.puts("\nfloor (hyperfine -N, 300 runs, exec'd without a BEAM; median ms):")

    for [_, cmd, median] <- rows do
      {median, _} = Float.parse(median)

      IO.puts(
        "  #{String.pad_leading(:erlang.float_to_binary(median * 1000, decimals: 3), 7)}  #{cmd}"
      )
    end

    IO.puts(
      "  (floors/README.md on this machine kind: unshare -fpmiu 1.9, -fnpmiu 2.5, /bin/true 0.6)"
    )
end
