Code.require_file("nft_case.exs", __DIR__)
Code.require_file("nft_corpus.exs", __DIR__)

defmodule Linx.Netfilter.OracleTest do
  # The oracle: `nft` itself. For each ruleset of the corpus (together they use every
  # expression type this kernel has: meta, payload, cmp, bitwise, ct, lookup,
  # immediate/verdicts incl. jump and goto, counter, limit, quota, log, nat, masq,
  # redir, reject, fib, hash, numgen, socket, exthdr, range, dynset, objref, notrack,
  # plus named and anonymous sets, maps, verdict maps, concatenations, intervals,
  # timeouts and stateful objects):
  #
  #   1. push the Linx model into a private netns: `nft list ruleset` must print the
  #      expected listing, exactly;
  #   2. load that listing with `nft -f` into a second netns: `nft -j list ruleset` of
  #      both must be equal (handles aside) — Linx sent what nft itself sends;
  #   3. pull the nft-loaded netns with Linx: the decoded ruleset must equal the model
  #      (`diff/2` is empty) — Linx reads what nft wrote.
  #
  # The listings are what nft 1.0.6 prints for the corpus sources; each model states
  # nft's implicit protocol dependencies explicitly (`meta l4proto tcp` before
  # `tcp dport`), since that is what nft compiles.
  use ExUnit.Case, async: true

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.Patch

  @filter_listing """
  table inet filter {
  	chain input {
  		type filter hook input priority filter; policy drop;
  		ct state established,related accept
  		ct state invalid drop
  		iifname "lo" accept
  		tcp dport 22 counter packets 0 bytes 0 accept
  		tcp dport { 80, 443 } accept
  		udp dport 1000-2000 accept
  		udp dport != 5000-5010 accept
  		ip saddr 10.0.0.0/8 jump trusted
  		ip saddr 172.16.0.0/12 accept
  		ip6 saddr fd00::/8 goto trusted
  		meta mark 0x00000010 accept
  		meta mark & 0x0000ff00 == 0x00000100 drop
  		ct mark 0x0000002a return
  		icmp type echo-request limit rate 5/second accept
  		limit rate over 100/minute burst 10 packets drop
  		limit rate 1 mbytes/second accept
  		quota over 1000000 bytes drop
  		quota 5000 bytes accept
  		log prefix "in: " level info flags tcp sequence
  		log prefix "nflog " group 2
  		meta l4proto tcp reject with tcp reset
  		reject
  		reject with icmpx host-unreachable
  	}

  	chain trusted {
  		meta mark set 0x00000001
  		ct mark set 0x00000002
  		counter packets 0 bytes 0
  		continue
  	}
  }
  """

  @nat_listing """
  table ip nat {
  	chain postrouting {
  		type nat hook postrouting priority srcnat; policy accept;
  		oifname "eth0" masquerade
  		oifname "eth1" masquerade random
  		ip saddr 192.168.0.0/16 snat to 1.2.3.4
  	}

  	chain prerouting {
  		type nat hook prerouting priority dstnat; policy accept;
  		tcp dport 80 dnat to 10.0.0.2:8080
  		tcp dport 81 redirect to :8081
  		udp dport 53 dnat to 10.0.0.3
  	}
  }
  """

  @sets_listing """
  table ip sets {
  	map backends {
  		type inet_service : ipv4_addr
  		elements = { 80 : 10.0.0.2, 443 : 10.0.0.3 }
  	}

  	set blocked {
  		type ipv4_addr
  		flags interval
  		elements = { 10.0.0.0/8, 172.16.0.1-172.16.0.9,
  			     192.168.1.7 }
  	}

  	map dispatch {
  		type inet_service : verdict
  		elements = { 22 : accept, 23 : drop, 25 : jump mail }
  	}

  	set dyn {
  		type ipv4_addr
  		size 65535
  		flags dynamic,timeout
  		timeout 1m
  	}

  	set ifaces {
  		type ifname
  		elements = { "eth0",
  			     "veth1" }
  	}

  	set marks {
  		type mark
  		elements = { 0x00000001, 0x00000010 }
  	}

  	set pairs {
  		type ipv4_addr . inet_service
  		elements = { 10.0.0.1 . 22,
  			     10.0.0.2 . 80 }
  	}

  	set ports {
  		type inet_service
  		elements = { 22, 80, 443 }
  	}

  	set ranges {
  		type ipv4_addr . inet_service
  		flags interval
  		elements = { 10.0.0.0/24 . 22,
  			     10.1.0.1 . 1000-2000 }
  	}

  	chain forward {
  		type filter hook forward priority filter; policy accept;
  		ip saddr @blocked drop
  		tcp dport @ports accept
  		ip saddr . tcp dport @pairs accept
  		ip saddr . tcp dport @ranges accept
  		iifname @ifaces accept
  		meta mark @marks accept
  		tcp dport vmap @dispatch
  		update @dyn { ip saddr counter }
  		add @dyn { ip daddr limit rate 10/second }
  		tcp dport vmap { 8080 : accept, 8081 : drop }
  		ip saddr != { 10.9.0.1, 10.9.0.2 } counter packets 0 bytes 0
  	}

  	chain mail {
  		accept
  	}
  }
  """

  @objects_listing """
  table ip objs {
  	counter http {
  		packets 0 bytes 0
  	}

  	ct expectation sip {
  		protocol tcp
  		dport 5060
  		timeout 30s
  		size 8
  		l3proto ip
  	}

  	ct helper ftp {
  		type "ftp" protocol tcp
  		l3proto ip
  	}

  	ct timeout short {
  		protocol tcp
  		l3proto ip
  		policy = { established : 100, close : 4 }
  	}

  	limit slow {
  		rate 3/minute
  	}

  	quota month {
  		10000000 bytes
  	}

  	synproxy sp {
  		mss 1460
  		wscale 7
  		timestamp sack-perm
  	}

  	chain c {
  		type filter hook forward priority filter; policy accept;
  		tcp dport 80 counter name "http"
  		quota name "month" limit name "slow"
  		tcp dport 21 ct helper set "ftp"
  		tcp dport 22 ct timeout set "short"
  		tcp dport 5060 ct expectation set "sip"
  		tcp dport 443 synproxy name "sp"
  	}
  }
  """

  @misc_listing """
  table inet misc {
  	chain pre {
  		type filter hook prerouting priority raw; policy accept;
  		fib daddr type local accept
  		fib saddr . iif oif 0 drop
  		jhash ip saddr mod 4 seed 0x1234 0 accept
  		symhash mod 2 1 accept
  		numgen inc mod 2 0 accept
  		numgen random mod 10 offset 5 7 accept
  		socket transparent 1 accept
  		exthdr hbh exists accept
  		tcp option maxseg size 1460 accept
  		ct state new notrack
  		meta nftrace set 1
  		meta priority set 1:2
  		ip dscp ef accept
  		ip6 hoplimit 1 drop
  		ip ttl 64 accept
  		tcp flags syn / fin,syn,rst,ack accept
  		ether saddr 02:00:00:00:00:01 accept
  		meta l4proto { tcp, udp } accept
  		ct direction original accept
  		meta pkttype broadcast drop
  	}
  }
  """

  @cases [
    filter: {:filter, @filter_listing},
    nat: {:nat, @nat_listing},
    sets: {:sets, @sets_listing},
    objects: {:objects, @objects_listing},
    misc: {:misc, @misc_listing}
  ]

  for {name, {fun, listing}} <- @cases do
    @tag corpus: name
    test "#{name}: Linx push == nft listing, nft -j agrees, nft -f pulled by Linx == model" do
      model = apply(Linx.Test.NftCorpus, unquote(fun), [])
      expected = String.trim_trailing(unquote(listing))

      %{ns: a, sock: sock_a} = sandbox!("oracle-a")
      assert :ok = Netfilter.push(sock_a, model)
      assert listing(a) == expected

      %{ns: b, sock: sock_b} = sandbox!("oracle-b")
      load!(b, expected <> "\n")
      {ja, jb} = {json(a), json(b)}
      assert length(ja) == length(jb)

      for {x, y} <- Enum.zip(ja, jb) do
        assert x == y
      end

      assert {:ok, pulled} = Netfilter.pull(sock_b)
      patch = Netfilter.diff(pulled, model)

      assert Patch.empty?(patch),
             "pulled nft ruleset differs from the model: #{inspect(patch.ops, pretty: true, limit: 40)}"

      # and the Linx-pushed side pulls back to the model too
      assert {:ok, pulled_a} = Netfilter.pull(sock_a)
      assert Patch.empty?(Netfilter.diff(pulled_a, model))
    end
  end
end
